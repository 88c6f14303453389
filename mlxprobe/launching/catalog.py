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
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import syntax
from ..errors import UsageError
from . import expectations

REQUIRED_KEYS = ("id", "title", "variants")
# a tag is a pytest marker name too (`pytest scenarios/ -m upstream`): a Python identifier
# without leading underscore, or kebab-case
TAG = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
PACKAGE = "mlxprobe_scenarios"
MAX_RANKS = 8  # local ranks of one machine: a scenario is a tiny model, not a cluster
# the verdict kinds an expectation may name ("kind" or "kind:detail"); see mlxprobe.judging.verdict
VERDICT_KINDS = ("pass", "hang", "crash", "leak", "diverged", "not_learning", "no_update",
                 "wrong_result")


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
    def ranks(self) -> int:
        """How many ranks run each variant (through `mlx.launch`); 1: a plain child."""
        return int(self.meta.get("ranks", 1))

    @property
    def native(self) -> dict | None:
        """{"project", "program"} of a scenario whose variants are a native program's."""
        return self.meta.get("native")

    @property
    def budget_s(self) -> float | None:
        value = self.meta.get("budget_s")
        return float(value) if value is not None else None

    @property
    def tags(self) -> tuple[str, ...]:
        """The scenario's `SCENARIO["tags"]` (e.g. "upstream": a guard against an mlx bug)."""
        return tuple(self.meta.get("tags", ()))


def read_metadata(path: Path) -> dict | None:
    """The SCENARIO literal of `path`, None when the file defines none.

    A file that cannot be read or parsed, a SCENARIO that is not a literal dict, an
    unknown expected verdict or a variant the module does not define: a UsageError naming
    the file (all found without running the module).
    """
    data = _read(path)
    if b"SCENARIO" not in data:
        return None
    try:
        tree = syntax.parse(data, filename=str(path))  # bytes: a coding declaration is honoured
    except (SyntaxError, ValueError) as exc:  # ValueError: a NUL byte in the source
        where = f"{path}:{getattr(exc, 'lineno', None) or '?'}"
        reason = getattr(exc, "msg", None) or str(exc)
        raise UsageError(f"{where}: syntax error in scenario module: {reason}") from exc
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "SCENARIO" for t in node.targets
        ):
            meta = _literal(path, node.value)
            _check_variants(path, meta, tree)
            return meta
    return None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read scenario file {path}: {exc.strerror or exc}") from exc


def _check_variants(path: Path, meta: dict, tree: ast.Module) -> None:
    """Each expectation (`expected_before_mlx` too) names a known verdict kind and a variant
    the scenario lists; each variant is defined in the module."""
    for variant, expected in meta["variants"].items():
        kind = str(expected).partition(":")[0]
        if kind not in VERDICT_KINDS:
            raise UsageError(f"{path}: variant {variant!r} expects {expected!r}; the verdict "
                             f"must be one of {', '.join(VERDICT_KINDS)} (or kind:detail)")
    problem = expectations.problem(meta, VERDICT_KINDS)
    if problem:
        raise UsageError(f"{path}: {problem}")
    if "native" in meta:  # a native program's variants are its first argument, not functions
        _check_native(path, meta["native"])
        return
    names = defined_names(tree)
    if names is None:
        return
    missing = [str(v) for v in meta["variants"] if str(v) not in names]
    if missing:
        raise UsageError(f"{path}: SCENARIO lists variant(s) {', '.join(missing)} but the "
                         "module defines no such function")


def _check_native(path: Path, native: object) -> None:
    """`SCENARIO["native"]`: {"project": a CMake folder next to the module, "program": the
    target built there}; each variant runs as `program VARIANT`."""
    keys = ("project", "program")
    if not (isinstance(native, dict) and all(isinstance(native.get(k), str) for k in keys)):
        raise UsageError(f"{path}: SCENARIO['native'] must be {{'project': FOLDER, 'program': "
                         f"TARGET}}, got {native!r}")
    if not (path.parent / native["project"] / "CMakeLists.txt").is_file():
        raise UsageError(f"{path}: SCENARIO['native'] names {native['project']!r}, which holds "
                         "no CMakeLists.txt next to the module")


# top-level blocks that may define a variant conditionally: such modules are not judged
DYNAMIC_BLOCKS = (ast.If, ast.Try, ast.With, ast.For, ast.While)


def defined_names(tree: ast.Module) -> set[str] | None:
    """Top-level names a module binds (def, class, assignment, import); None when it cannot
    be known statically (a star import, a module __getattr__)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(a.name == "*" for a in node.names):
                return None
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, DYNAMIC_BLOCKS):
            return None
    return None if "__getattr__" in names else names


def _literal(path: Path, node: ast.expr) -> dict:
    try:
        meta = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise UsageError(f"{path}: SCENARIO must be a literal dict ({exc})") from exc
    missing = [k for k in REQUIRED_KEYS if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise UsageError(f"{path}: SCENARIO lacks {', '.join(missing)}")
    if not isinstance(meta["variants"], dict) or not meta["variants"]:
        raise UsageError(f"{path}: SCENARIO['variants'] must map variant names to verdicts")
    budget = meta.get("budget_s")
    if budget is not None and not (isinstance(budget, (int, float)) and 0 < budget < math.inf):
        raise UsageError(f"{path}: SCENARIO['budget_s'] must be a number of seconds > 0, "
                         f"got {budget!r}")
    if not isinstance(meta.get("learning_metric", ""), str):
        raise UsageError(f"{path}: SCENARIO['learning_metric'] must be a metric name")
    ranks = meta.get("ranks", 1)
    if not (isinstance(ranks, int) and not isinstance(ranks, bool) and 1 <= ranks <= MAX_RANKS):
        raise UsageError(f"{path}: SCENARIO['ranks'] must be a whole number from 1 to "
                         f"{MAX_RANKS} (processes launched through mlx.launch), got {ranks!r}")
    tags = meta.get("tags", [])
    if not (isinstance(tags, list) and all(isinstance(t, str) and TAG.fullmatch(t)
                                           for t in tags)):
        raise UsageError(f"{path}: SCENARIO['tags'] must be a list of names (letters, digits, "
                         f"_ and -, starting with a letter), got {tags!r}")
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
    variants = expectations.resolve(meta)
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
    """Every scenario in `folder` (default: the bundled ones), sorted by file name; a
    UsageError naming the first file that cannot be read (syntax error, bad SCENARIO), or
    the folder when it holds no scenario module at all (a typo in a CI path must not run
    nothing and pass)."""
    scenarios, problems = scan(folder)
    if problems:
        more = f" (and {len(problems) - 1} more broken file(s))" if len(problems) > 1 else ""
        raise UsageError(problems[0] + more)
    if not scenarios:
        raise UsageError(nothing_found(folder or default_folder()))
    return scenarios


def nothing_found(folder: Path) -> str:
    return (f"no scenario modules found in {folder} (a scenario module is a .py file with a "
            "literal SCENARIO dict)")


def scan(folder: Path | None = None) -> tuple[list[Scenario], list[str]]:
    """The scenarios in `folder` that can be read, and one line per file that cannot (so
    picking one good scenario by id still works next to a broken file)."""
    folder = folder or default_folder()
    if not folder.is_dir():
        raise UsageError(f"scenario folder not found: {folder}")
    scenarios: list[Scenario] = []
    problems: list[str] = []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            found = load_file(path)
        except UsageError as exc:
            problems.append(str(exc))
            continue
        if found is not None:
            scenarios.append(found)
    _refuse_duplicates(scenarios)
    return scenarios, problems


def _refuse_duplicates(scenarios: list[Scenario]) -> None:
    seen: dict[str, Path] = {}
    for s in scenarios:
        if s.id in seen:
            raise UsageError(f"scenario id {s.id!r} is defined twice: {seen[s.id]} and {s.path}")
        seen[s.id] = s.path


def select(scenarios: list[Scenario], wanted: str, unreadable: Sequence[str] = (),
           folder: Path | None = None) -> Scenario:
    """The scenario called `wanted`; a UsageError naming close matches otherwise (and the
    first of the `unreadable` files, which might have defined it)."""
    by_id = {s.id: s for s in scenarios}
    if wanted in by_id:
        return by_id[wanted]
    if not scenarios and not unreadable and folder is not None:
        raise UsageError(f"unknown scenario {wanted!r}: {nothing_found(folder)}")
    close = difflib.get_close_matches(wanted, list(by_id), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see `mlxprobe list`"
    if unreadable:
        hint += f"; a scenario file could not be read: {unreadable[0]}"
    raise UsageError(f"unknown scenario {wanted!r}{hint}")


def known_tags(scenarios: Sequence[Scenario]) -> list[str]:
    return sorted({t for s in scenarios for t in s.tags})


def with_tags(scenarios: Sequence[Scenario], tags: Sequence[str]) -> list[Scenario]:
    """The scenarios carrying any of `tags`; a UsageError naming the known tags when a tag is
    carried by no scenario (a typo would otherwise select nothing and pass)."""
    known = known_tags(scenarios)
    unknown = [t for t in tags if t not in known]
    if unknown:
        listed = ", ".join(known) if known else "none"
        raise UsageError(f"unknown tag {unknown[0]!r}; the scenarios' tags are: {listed}")
    return [s for s in scenarios if set(s.tags) & set(tags)]


def variants_of(scenario: Scenario, wanted: str | None) -> list[str]:
    """The variant names to run: all of them, or the one asked for (checked)."""
    if wanted is None:
        return list(scenario.variants)
    if wanted not in scenario.variants:
        known = ", ".join(scenario.variants)
        raise UsageError(f"scenario {scenario.id!r} has no variant {wanted!r} (it has: {known})")
    return [wanted]
