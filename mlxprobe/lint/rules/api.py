"""MLX037: a name read from `mlx.core` (or one of its submodules: `mx.linalg`, `mx.random`,
`mx.fast`, ...), `mlx.nn.losses` or `mlx.optimizers` that mlx does not have: a removed API
(`mx.simplify`), a PyTorch or NumPy spelling (`nn.losses.log_sigmoid`: fresh20
`dpo_log_sigmoid_loss`), a typo. It fails with AttributeError only when the line first
runs, often after the model is built and the data loaded.

Job: compare each `mx.<name>` read against the names mlx itself lists (`mlx_api`, data).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable, Iterator

from ..finding import Finding
from ..mlx_api import MODULES
from ..source import SourceFile
from .base import Rule


def missing(qualified: str | None) -> bool:
    """`mlx.core.simplify`: the module is one of mlx's and has no such name (dunders such as
    `mx.__version__` are every module's)."""
    if qualified is None or "." not in qualified:
        return False
    module, name = qualified.rsplit(".", 1)
    if module == "mlx.nn" and not name[:1].isupper():
        return False  # of mlx.nn only its classes are read (see READS)
    return not name.startswith("__") and module in MODULES and name not in MODULES[module]


# the modules whose names are read through an alias, and how each is imported
IMPORTS = {"mlx.core": ("import mlx.core", "from mlx import core"),
           "mlx.nn": ("import mlx.nn", "from mlx import nn"),
           "mlx.optimizers": ("import mlx.optimizers", "from mlx import optimizers")}
ALIAS = re.compile(r" as (\w+)")
# what is read after each module's alias: of mlx.nn its losses and its classes, capitalised
# (PyTorch's `nn.BatchNorm2d`, `nn.ModuleList`, `nn.Parameter`: fresh174 `sandglyph_cvae_bn`,
# mlx-cvae a22e9bf, AttributeError while building the model); its functions are read
# everywhere in model files (scanning them all cost 0.05 s over the packages)
READS = {"mlx.core": r"\.([\w.]+)", "mlx.nn": r"\.(losses\.\w+|[A-Z]\w*)",
         "mlx.optimizers": r"\.(\w+)"}


def aliases(text: str) -> dict[str, str]:
    """alias -> module for each module of IMPORTS the text imports (`mx` -> mlx.core;
    "mlx.core" for a plain `import mlx.core`): `str.find` of each import, then ` as name`
    right after it (a regex alternation of the imports scanned every file at every position:
    4x the cost)."""
    found = {}
    for module, leads in IMPORTS.items():
        for lead in leads:
            at = text.find(lead)
            while at >= 0:
                if (named := ALIAS.match(text, at + len(lead))) is not None:
                    found[named[1]] = module
                at = text.find(lead, at + 1)
        if f"import {module}\n" in text:
            found[module] = module
    return found


def unknown_in_text(text: str, imported: dict[str, str] | None = None) -> bool:
    """Any `<alias>.<name>` or `<alias>.<submodule>.<name>` in the text, for an alias the
    file imports (or in `imported`), that mlx does not have: a cheap test before any
    parsing (a superset: the parsed check decides; a literal-prefix regex, `\\b` would cost
    20x)."""
    for alias, module in (aliases(text) if imported is None else imported).items():
        reads = set(re.findall(re.escape(alias) + READS[module], text))
        if any(missing_read(module, read.rstrip(".")) for read in reads):
            return True
    return False


@functools.lru_cache(maxsize=4096)
def missing_read(module: str, read: str) -> bool:
    """`simplify` or `linalg.matrix_rank` read after an alias of `module` (`nn` + `losses.x`
    for mlx.nn): mlx has no such name."""
    parts = read.split(".")
    return missing(f"{module}.{parts[0]}") or missing(f"{module}." + ".".join(parts[:2]))


class MissingMlxApi(Rule):
    """MLX037: `mx.simplify(...)`, `mx.nonzero(x)`: mlx.core has no such attribute."""

    id = "MLX037"

    @staticmethod
    def may_fire(text: str) -> bool:
        return "mlx" in text and unknown_in_text(text)

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        """The blocks that read a name mlx lacks through an alias the file imports."""
        imported = aliases(text)
        return lambda block: unknown_in_text(block, imported)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        tested = probed(source)
        for node in source.of_type(ast.Attribute):
            if isinstance(node.ctx, ast.Load) and missing(source.imports.resolve(node)) \
                    and node.attr not in tested:
                yield self.hit(source, node)


def probed(source: SourceFile) -> set[str]:
    """Names the module tests for before it reads them: `hasattr(mx, "lgamma")`, a
    `getattr(mx, "lgamma", ...)` with a default (fresh25 `zip_claims_csv`: `mx.lgamma(y + 1)
    if hasattr(mx, "lgamma") else ...`, a program written for several mlx versions)."""
    found: set[str] = set()
    for call in source.of_type(ast.Call):
        if isinstance(call.func, ast.Name) and call.func.id in ("hasattr", "getattr") and len(
                call.args) >= 2 and isinstance(call.args[1], ast.Constant) and isinstance(
                call.args[1].value, str):
            found.add(call.args[1].value)
    return found
