"""Isolated Python environments, one per mlx requirement, cached between gate runs.

Job: build a venv (with `uv` when it is installed, else `python -m venv` + pip) holding a
given mlx requirement ("mlx[cpu]==0.31.2", a range, a local wheel, a git URL: whatever pip
accepts), the user's own requirements when gating their program (`--with REQ`, `--requirements
FILE`: part of the cache key) and mlxprobe itself (a wheel built once from this checkout, never
editable, so the env runs the same bits). Environments live under
`$MLXPROBE_CACHE/envs/<hash of what is installed and python>` (default `~/.cache/mlxprobe`);
a stamp file written last marks one as complete, so an interrupted build is rebuilt, and a
changed checkout only reinstalls mlxprobe (a local project, `--with .`, is reinstalled on
every use). A lock file
keeps two gates from building the same env at once.

Must not import: mlx, the runner.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..errors import UsageError

STAMP = "mlxprobe-env.json"
SOURCE_PARTS = ("pyproject.toml", "README.md", "mlxprobe", "scenarios")  # the wheel's sources
KEEP_WHEELS = 3  # wheels of older checkouts kept in the cache
REQUIREMENTS_FILE = "requirements:"  # an extra that is a requirements file (pip -r)
Log = Callable[[str], None]


@dataclass(frozen=True)
class Environment:
    requirement: str
    path: Path
    mlx_version: str
    built_s: float  # seconds spent building or updating it now (0 when reused as it was)
    state: str = "cached"  # "built", "updated" (mlxprobe reinstalled) or "cached"
    extras: tuple[str, ...] = ()  # the user's requirements installed with mlx

    @property
    def how(self) -> str:
        """'built in 25 s', 'mlxprobe updated in 3 s' or 'cached'."""
        if self.state == "built":
            return f"built in {self.built_s:.0f} s"
        if self.state == "updated":
            return f"mlxprobe updated in {self.built_s:.0f} s"
        return "cached"

    @property
    def python(self) -> Path:
        return python_in(self.path)


def python_in(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def script_in(venv: Path, name: str) -> Path:
    """A console script of the venv (`mlxprobe`)."""
    return venv / ("Scripts" if os.name == "nt" else "bin") / (name + (".exe" if os.name ==
                                                                         "nt" else ""))


def cache_root(explicit: Path | None = None) -> Path:
    """`explicit`, else `$MLXPROBE_CACHE`, else `~/.cache/mlxprobe` (shared with scenarios)."""
    return Path(explicit or os.environ.get("MLXPROBE_CACHE") or Path.home() / ".cache/mlxprobe")


def installer() -> str:
    """'uv' when it is on PATH, else 'pip'."""
    return "uv" if shutil.which("uv") else "pip"


def checkout_root() -> Path | None:
    """The source checkout this mlxprobe runs from, None when installed from a wheel."""
    root = Path(__file__).resolve().parents[2]  # mlxprobe/gating/environments.py
    return root if (root / "pyproject.toml").is_file() and (root / "scenarios").is_dir() else None


def source_stamp(root: Path) -> str:
    """A hash of every file the mlxprobe wheel is built from."""
    digest = hashlib.sha256()
    for part in SOURCE_PARTS:
        base = root / part
        files = sorted(base.rglob("*")) if base.is_dir() else [base]
        for path in files:
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def requirement_key(requirement: str, extras: tuple[str, ...] = ()) -> str:
    """The cache key of an env: everything installed in it (the mlx requirement and the
    user's extra requirements, a local file by content, a local folder by path) and this
    python. Without extras the key is the one older gates used."""
    what = [_identity(r) for r in (requirement, *extras)]
    text = json.dumps([what[0] if not extras else what, sys.executable, sys.version,
                       installer()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _identity(requirement: str) -> str:
    if requirement.startswith(REQUIREMENTS_FILE):
        return REQUIREMENTS_FILE + _identity(requirement[len(REQUIREMENTS_FILE):])
    local = Path(requirement).expanduser()
    if local.is_file():
        return _file_digest(local)
    return f"dir:{local.resolve()}" if local.is_dir() else requirement.strip()


def extra_requirements(with_: list[str] | None, requirements: Path | None) -> tuple[str, ...]:
    """The user's requirements as the env keeps them: each `--with REQ`, then the file of
    `--requirements FILE` as 'requirements:PATH'. UsageError for a file that is not there."""
    extras = tuple(r.strip() for r in with_ or [] if r.strip())
    if requirements is not None:
        if not requirements.is_file():
            raise UsageError(f"--requirements {requirements}: no such file")
        extras += (REQUIREMENTS_FILE + str(requirements.resolve()),)
    return extras


def pip_arguments(extras: tuple[str, ...]) -> list[str]:
    """What pip installs for the extras: local paths absolute, a requirements file as -r."""
    out: list[str] = []
    for extra in extras:
        if extra.startswith(REQUIREMENTS_FILE):
            out += ["-r", install_argument(extra[len(REQUIREMENTS_FILE):])]
        else:
            out.append(install_argument(extra))
    return out


def local_projects(extras: tuple[str, ...]) -> list[str]:
    """The extras that are local folders (`--with .`): reinstalled each time the env is used,
    as their code changes without their path changing."""
    return [install_argument(e) for e in extras
            if not e.startswith(REQUIREMENTS_FILE) and Path(e).expanduser().is_dir()]


def _file_digest(path: Path) -> str:
    return "file:" + hashlib.sha256(path.read_bytes()).hexdigest()


def install_argument(requirement: str) -> str:
    """A local file as an absolute path (the env installs from elsewhere), else as given."""
    local = Path(requirement).expanduser()
    return str(local.resolve()) if local.exists() else requirement


def mlxprobe_wheel(cache: Path, log: Log) -> tuple[Path, str]:
    """(wheel of this checkout, its source stamp), built once per source state."""
    root = checkout_root()
    if root is None:
        raise UsageError("this mlxprobe is not a source checkout; pass --mlxprobe "
                         f"'mlxprobe=={__version__}' (or a wheel) to install in the envs")
    with tempfile.TemporaryDirectory(prefix="mlxprobe-src-") as src:
        _snapshot(root, Path(src))  # stamp and wheel from the same copy, even mid-edit
        stamp = source_stamp(Path(src))
        folder = cache / "wheels" / stamp
        if not any(folder.glob("mlxprobe-*.whl")):
            log(f"building the mlxprobe wheel from {root}")
            _build_wheel(Path(src), folder, cache / "wheels" / "build.log")
    _prune(cache / "wheels", keep=folder)
    return sorted(folder.glob("mlxprobe-*.whl"))[0], stamp


def _build_wheel(src: Path, folder: Path, log_path: Path) -> None:
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}")
    _call([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp),
           str(src)], "build the mlxprobe wheel", log_path)
    try:
        tmp.replace(folder)
    except OSError:  # another gate built the same source meanwhile: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)


def _snapshot(root: Path, dest: Path) -> None:
    """Copy the wheel's sources: the build never sees stale build/ files or half-saved edits."""
    for part in SOURCE_PARTS:
        source = root / part
        if source.is_dir():
            shutil.copytree(source, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            shutil.copy2(source, dest / part)


def _prune(wheels: Path, keep: Path, count: int = KEEP_WHEELS) -> None:
    """Remove all but the newest `count` wheel folders (always keeping `keep`)."""
    folders = sorted((p for p in wheels.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in folders[count:]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


def prepare(requirement: str, cache: Path, mlxprobe: tuple[str, str], refresh: bool = False,
            log: Log = print, extras: tuple[str, ...] = ()) -> Environment:
    """The ready environment for `requirement` holding `mlxprobe` (from `mlxprobe_package`)
    and the user's `extras` (from `extra_requirements`)."""
    package, stamp = mlxprobe
    path = cache / "envs" / requirement_key(requirement, extras)
    started = time.monotonic()
    with _locked(path.with_name(path.name + ".lock")):
        state = _ensure(path, requirement, package, stamp, refresh, log, extras)
        old = _stamp(path) or {}
        known = old.get("mlx_version") not in (None, "unknown")  # "unknown": older stamps
        version = old["mlx_version"] if state == "cached" and known else installed_mlx(path)
        _stamp(path, {"requirement": requirement, "mlxprobe": stamp, "mlx_version": version})
    spent = round(time.monotonic() - started, 1) if state != "cached" else 0.0
    return Environment(requirement, path, version, spent, state, extras)


def mlxprobe_package(mlxprobe: str | None, cache: Path, log: Log = print) -> tuple[str, str]:
    """(what to pip-install as mlxprobe, its stamp): a given spec, else this checkout's wheel.

    Taken once per gate, so both sides run the same mlxprobe even while the checkout changes.
    """
    if mlxprobe:
        return install_argument(mlxprobe), "spec:" + mlxprobe
    wheel, stamp = mlxprobe_wheel(cache, log)
    return str(wheel), stamp


def _ensure(path: Path, requirement: str, package: str, stamp: str, refresh: bool,
            log: Log, extras: tuple[str, ...] = ()) -> str:
    """Build or update the env: 'built', 'updated' (mlxprobe or a local project) or
    'cached'."""
    done = _stamp(path)
    if refresh or done is None or not python_in(path).exists():
        _build(path, requirement, package, log, extras)
        return "built"
    state = "cached"
    if done.get("mlxprobe") != stamp:
        log(f"updating mlxprobe in {path}")
        _pip_install(path, ["--no-deps", "--force-reinstall", package], "mlxprobe")
        state = "updated"
    projects = local_projects(extras)
    if projects:
        log(f"reinstalling {', '.join(projects)} in {path}")
        _pip_install(path, ["--no-deps", "--force-reinstall", *projects], "your project")
        state = "updated"
    return state


def _stamp(path: Path, write: dict | None = None) -> dict | None:
    stamp = path / STAMP
    if write is not None:
        stamp.write_text(json.dumps(write), encoding="utf-8")
        return write
    try:
        return json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@contextmanager
def _locked(lock: Path) -> Iterator[None]:
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(path: Path, requirement: str, package: str, log: Log,
           extras: tuple[str, ...] = ()) -> None:
    also = f" with {', '.join(extras)}" if extras else ""
    log(f"building an environment for {requirement!r}{also} in {path} ({installer()})")
    shutil.rmtree(path, ignore_errors=True)
    try:
        if installer() == "uv":
            _call(["uv", "venv", "--quiet", "--python", sys.executable, str(path)],
                  "create a venv", path.with_suffix(".log"))
        else:
            _call([sys.executable, "-m", "venv", str(path)], "create a venv",
                  path.with_suffix(".log"))
        _pip_install(path, [package, install_argument(requirement), *pip_arguments(extras)],
                     requirement + also)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise


def _pip_install(path: Path, args: list[str], what: str) -> None:
    if installer() == "uv":
        command = ["uv", "pip", "install", "--quiet", "--python", str(python_in(path)), *args]
    else:
        command = [str(python_in(path)), "-m", "pip", "install", "--quiet",
                   "--disable-pip-version-check", *args]
    _call(command, f"install {what!r}", path.with_suffix(".log"))


def installed_mlx(path: Path) -> str:
    """The mlx version installed in the venv at `path`; a UsageError when there is none (the
    gate would run every variant into an import error and call that a side)."""
    code = "import importlib.metadata as m; print(m.version('mlx'))"
    done = subprocess.run([str(python_in(path)), "-c", code], capture_output=True, text=True,
                          env=clean_env())
    if done.returncode != 0 or not done.stdout.strip():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"the environment {path} has no mlx installed ({last}); "
                         "try --refresh, or check the requirement")
    return done.stdout.strip()


def clean_env() -> dict[str, str]:
    """This process's environment without what would leak our own packages into a venv."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP")}


def _call(command: list[str], what: str, log_path: Path) -> None:
    """Run a setup command; on failure a one-line UsageError with pip's last error line."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(command, capture_output=True, text=True, env=clean_env())
    log_path.write_text(f"$ {' '.join(command)}\n{done.stdout}\n{done.stderr}", encoding="utf-8")
    if done.returncode != 0:
        lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
        last = next((ln for ln in reversed(lines) if "error" in ln.lower()),
                    lines[-1] if lines else f"exit {done.returncode}")
        raise UsageError(f"could not {what}: {last} (log: {log_path})")
