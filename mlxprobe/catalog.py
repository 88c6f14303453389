"""The scenario catalogue: find scenario modules and read their metadata without importing them.

Job: a scenario is a Python file with a module-level literal `SCENARIO = {...}` and one
function per variant (`def broken(probe)`, `def fixed(probe)`). Its metadata is read with
`ast.literal_eval`, so listing, selecting and collecting scenarios never imports mlx or runs
scenario code (a module that fails to import fails in its own child, not here).

Must not import: mlx, the child side, the runner.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UsageError

REQUIRED_KEYS = ("id", "title", "variants")
PACKAGE = "mlxprobe_scenarios"


@dataclass(frozen=True)
class Scenario:
    """One scenario module's metadata and where to import it from."""

    id: str
    title: str
    variants: dict[str, str]  # variant name -> expected verdict ("pass", "hang:cpu_busy", ...)
    path: Path
    import_root: Path  # the sys.path entry the child adds
    module: str  # dotted module name under import_root
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def budget_s(self) -> float | None:
        value = self.meta.get("budget_s")
        return float(value) if value is not None else None


def read_metadata(path: Path) -> dict | None:
    """The SCENARIO literal of `path`, None when the file defines none."""
    text = path.read_text(encoding="utf-8")
    if "SCENARIO" not in text:
        return None
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        where = f"{path}:{exc.lineno}"
        raise UsageError(f"{where}: syntax error in scenario module: {exc.msg}") from exc
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "SCENARIO" for t in node.targets
        ):
            return _literal(path, node.value)
    return None


def _literal(path: Path, node: ast.expr) -> dict:
    try:
        meta = ast.literal_eval(node)
    except ValueError as exc:
        raise UsageError(f"{path}: SCENARIO must be a literal dict ({exc})") from exc
    missing = [k for k in REQUIRED_KEYS if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise UsageError(f"{path}: SCENARIO lacks {', '.join(missing)}")
    if not isinstance(meta["variants"], dict) or not meta["variants"]:
        raise UsageError(f"{path}: SCENARIO['variants'] must map variant names to verdicts")
    return meta


def module_location(path: Path) -> tuple[Path, str]:
    """(sys.path root, dotted module name) for a file, walking up through packages."""
    path = path.resolve()
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").exists():
        parts.insert(0, folder.name)
        folder = folder.parent
    return folder, ".".join(parts)


def load_file(path: Path) -> Scenario | None:
    """The scenario defined in `path`, or None when it is not a scenario module."""
    meta = read_metadata(path)
    if meta is None:
        return None
    root, module = module_location(path)
    variants = {str(k): str(v) for k, v in meta["variants"].items()}
    return Scenario(str(meta["id"]), str(meta["title"]), variants, path.resolve(), root,
                    module, meta)


def default_folder() -> Path:
    """Where the scenarios shipped with mlxprobe are installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(f"the bundled scenarios ({PACKAGE}) are not installed; "
                         "reinstall mlxprobe or pass --scenarios DIR")
    return Path(list(spec.submodule_search_locations)[0])


def discover(folder: Path | None = None) -> list[Scenario]:
    """Every scenario in `folder` (default: the bundled ones), sorted by file name."""
    folder = folder or default_folder()
    if not folder.is_dir():
        raise UsageError(f"scenario folder not found: {folder}")
    found = [load_file(p) for p in sorted(folder.glob("*.py")) if not p.name.startswith("_")]
    scenarios = [s for s in found if s is not None]
    _refuse_duplicates(scenarios)
    return scenarios


def _refuse_duplicates(scenarios: list[Scenario]) -> None:
    seen: dict[str, Path] = {}
    for s in scenarios:
        if s.id in seen:
            raise UsageError(f"scenario id {s.id!r} is defined twice: {seen[s.id]} and {s.path}")
        seen[s.id] = s.path


def select(scenarios: list[Scenario], wanted: str) -> Scenario:
    """The scenario called `wanted`; a UsageError naming close matches otherwise."""
    by_id = {s.id: s for s in scenarios}
    if wanted in by_id:
        return by_id[wanted]
    close = difflib.get_close_matches(wanted, list(by_id), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see `mlxprobe list`"
    raise UsageError(f"unknown scenario {wanted!r}{hint}")


def variants_of(scenario: Scenario, wanted: str | None) -> list[str]:
    """The variant names to run: all of them, or the one asked for (checked)."""
    if wanted is None:
        return list(scenario.variants)
    if wanted not in scenario.variants:
        known = ", ".join(scenario.variants)
        raise UsageError(f"scenario {scenario.id!r} has no variant {wanted!r} (it has: {known})")
    return [wanted]
