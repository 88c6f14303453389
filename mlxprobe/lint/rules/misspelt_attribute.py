"""MLX257: a method of an `nn.Module` subclass calls `self.x(...)` where nothing ever sets
`x`, and the class builds a child under a name close to it (`self.quant_proj =
nn.Linear(...)`): a misspelt child. `Module.__getattr__` looks `x` up among the module's
children and parameters (dict entries), finds nothing and raises `AttributeError` the first
time the method runs; Python's own "Did you mean" reads `dir()` only and is silent about
them.

Measured (mlx 0.32.4 CPU, failure corpus fresh273 `kiln_glaze_latent_autoencoder`, from
ml-explore/mlx-examples 4ed942d "fix: typo in variable name"): a KL autoencoder that set
`self.quant_proj` called `self.query_proj(x)` in its forward, and the first training step
raised `AttributeError: 'Autoencoder' object has no attribute 'query_proj'`.

Job: in a class statement whose one base is MLX's `nn.Module` (the module imports mlx), with
no decorator, no dynamic attribute machinery (`setattr`, `__getattr__`, `__dict__`, ...) and
nothing filled by key (`self.update(`, `update_modules`, `self[...]`, `load_weights`,
`super().__init__(**...)`), that is no base of another class of the module and no mixin,
each call `self.x(...)` (not a dunder) where `x` is no method, class-level name, attribute a
method stores through `self`, attribute stored on any object in the module, nor a member of
`nn.Module` itself; and `difflib` finds, among the children the class builds from a
constructor (a callee whose name starts with a capital), one at a ratio >= CLOSE
(`query_proj` -> `quant_proj` 0.70). Both limits were measured against mlx-lm 0.32.2,
mlx-lm-lora and mlx-vlm at this rule's writing: any unset read would report 21 places there
(attributes a wrapper in another file sets, such as `self._vision_config`; methods an
abstract base's subclasses in other files define, such as `self.make_cache()`); unset reads
close to a name the class sets, 9; called and close to a built child, none.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import self_attr
from ..names import last_name
from ..patterns import at_word
from ..source import SourceFile
from .base import Rule
from .unset_attribute import DYNAMIC, STORED, assigned_anywhere, judged_classes

CLOSE = 0.6
MODULE_CLASS = re.compile(r"^[ \t]*class \w+\(\s*(?:nn\.)?Module\s*\):", re.MULTILINE)
# What `mlx.nn.Module` holds for a subclass (mlx 0.32.4: its methods, a dict's, the
# attributes its `__init__` sets).
MODULE_NAMES = frozenset({
    "_extra_repr", "_no_grad", "_set_training_mode", "_training", "_validate_keys",
    "_validate_keys_recursive", "apply", "apply_to_modules", "children", "clear", "copy",
    "eval", "filter_and_map", "freeze", "fromkeys", "get", "is_module", "items", "keys",
    "leaf_modules", "load_weights", "modules", "named_modules", "parameters", "pop",
    "popitem", "save_weights", "set_dtype", "setdefault", "state", "train",
    "trainable_parameter_filter", "trainable_parameters", "training", "unfreeze", "update",
    "update_modules", "valid_child_filter", "valid_parameter_filter", "values"})
CALLED = at_word(r"\bself\.(\w+)\(")
KEYED = ("self.update(", "update_modules", "self[", "load_weights", "__init__(*",
         "__init__(**")


class MisspeltModuleAttribute(Rule):
    """MLX257: `self.query_proj(x)` in a module that only ever sets `self.quant_proj`."""

    id = "MLX257"
    anchors = ("self.",)

    @staticmethod
    def may_fire(text: str) -> bool:
        """A module class, and a `self.x(` whose `x` no text stores (`.x = `, `.x += `) and
        `nn.Module` does not hold: `unknown_calls` from the text (two thirds of the three
        packages' files that name a module class call only what they store)."""
        if "mlx" not in text or "self." not in text or MODULE_CLASS.search(text) is None:
            return False
        called = set(CALLED.findall(text)) - MODULE_NAMES - set(STORED.findall(text))
        return any(not name.startswith("__") for name in called)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        calls = unknown_calls(source)
        if not calls:
            return
        for cls, set_on in judged_classes(source, module_class):
            known = set_on | MODULE_NAMES
            children = built_children(source, cls)
            for node, name in calls:
                if inside(node, cls) and name not in known \
                        and difflib.get_close_matches(name, children, n=1, cutoff=CLOSE):
                    yield self.hit(source, node.func)


def unknown_calls(source: SourceFile) -> list[tuple[ast.Call, str]]:
    """Each `self.x(...)` call (no dunder) whose `x` is neither a member of `nn.Module` nor an
    attribute the module stores anywhere: the only calls that can be a misspelt child, found
    from the index before any class is judged (most files have none; walking each class of
    the 737 package files the first text test let through cost a third of the rules' checks)."""
    calls = [(c, name) for c in source.of_type(ast.Call) if isinstance(c.func, ast.Attribute)
             and (name := self_attr(c.func)) and not name.startswith("__")
             and name not in MODULE_NAMES]
    if not calls:
        return []
    stored = assigned_anywhere(source)
    return [(c, name) for c, name in calls if name not in stored]


def inside(node: ast.AST, cls: ast.ClassDef) -> bool:
    """`node` lies within the class statement's lines."""
    return cls.lineno <= node.lineno <= (cls.end_lineno or cls.lineno)


def module_class(source: SourceFile, cls: ast.ClassDef) -> bool:
    """One base, MLX's `nn.Module`; no decorator; nothing set by name or by key."""
    if cls.keywords or cls.decorator_list or len(cls.bases) != 1 or "mlx" not in source.text:
        return False
    base = cls.bases[0]
    module = (isinstance(base, ast.Attribute) and base.attr == "Module"
              and isinstance(base.value, ast.Name) and base.value.id == "nn") or (
        isinstance(base, ast.Name) and base.id == "Module")
    text = "\n".join(source.lines[cls.lineno - 1:cls.end_lineno])
    return module and not any(word in text for word in (*DYNAMIC, *KEYED))


def built_children(source: SourceFile, cls: ast.ClassDef) -> list[str]:
    """The `self.x` the class stores from a class's constructor (`self.x = nn.Linear(...)`,
    `self.x = Encoder(...)`: a name that starts with a capital)."""
    return [a.targets[0].attr for a in source.of_type(ast.Assign)
            if len(a.targets) == 1 and self_attr(a.targets[0]) and isinstance(a.value, ast.Call)
            and inside(a, cls) and (last_name(a.value.func) or "")[:1].isupper()]
