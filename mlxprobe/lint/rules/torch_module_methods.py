"""MLX214: a PyTorch `nn.Module` method called on an MLX module: `self.register_buffer("pe",
table)` in a class deriving `mlx.nn.Module`, `model.zero_grad()`, `model.to(device)`,
`model.named_parameters()`, `model.state_dict()`. MLX's `Module` is a dict of its parameters
and children with none of these methods, so the line raises AttributeError when it runs (in
`__init__`: before training starts; `zero_grad()` in the loop: at the first step).

Measured (mlx 0.32.4 CPU): `hasattr(nn.Linear(2, 2), m)` is False for every name in
TORCH_MODULE. Failure corpus fresh192 `ledger_memo_bytegpt` (koogle/mlx-playground 0a57144):
a byte-level GPT's `self.register_buffer("pos_cache", sinusoidal_positions(...))` raised
AttributeError in the model's constructor; `self.pos_cache = ...` (an array attribute; frozen
or prefixed with `_` if it must not train) built and trained.

Job: in a module that imports no torch (the word alone may appear: fresh291
`quarry_relay_grpo_sync`, chuk-finetune 25a1b53, defines `is_torch_model` beside its
`ref_model.load_state_dict(base_model.state_dict())`), a call `self.m(...)` inside a class
deriving from an `mlx.nn` class (`dataflow.module_classes`), or `x.m(...)` on a name bound
to an instance of one (`flow.instances`) or on `self.x` where the module assigns
`self.x = Net(...)` of one, where `m` is in TORCH_MODULE and no class of the module defines `m`.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import module_classes
from ..finding import Finding
from ..flow import built_parts, instances, self_attr
from ..source import FUNCTIONS, SourceFile
from .base import Rule
from .torch_methods import imports_torch

TORCH_MODULE = frozenset({
    "register_buffer", "register_parameter", "register_module", "named_parameters",
    "named_children", "named_buffers", "buffers", "zero_grad", "to", "cuda", "cpu",
    "state_dict", "load_state_dict", "add_module", "requires_grad_", "get_parameter",
    "get_submodule"})


class TorchModuleMethod(Rule):
    """MLX214: a PyTorch Module method on an MLX module."""

    id = "MLX214"
    anchors = tuple(f".{m}(" for m in sorted(TORCH_MODULE))

    @staticmethod
    def may_fire(text: str) -> bool:
        return "import torch" not in text and "from torch" not in text and "nn." in text and any(
            f".{m}(" in text for m in TORCH_MODULE)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        classes = module_classes(source)
        if not classes or imports_torch(source):
            return
        defined = {f.name for c in source.of_type(ast.ClassDef) for f in c.body
                   if isinstance(f, FUNCTIONS)}
        owned = {id(c) for c in classes}
        models = {n for n, c in instances(source).items() if id(c) in owned}
        held = model_attributes(source, {c.name for c in classes})
        for call in source.of_type(ast.Call):
            func = call.func
            if not (isinstance(func, ast.Attribute) and func.attr in TORCH_MODULE - defined):
                continue
            if isinstance(func.value, ast.Name) and on_module(
                    source, func.value.id, call, owned, models) or self_attr(func.value) in held:
                yield self.hit(source, call)


def model_attributes(source: SourceFile, names: set[str]) -> set[str]:
    """`x` of every `self.x = Net(...)` with `Net` one of the module's model classes (fresh230
    `gambit_bestnet_copy`, koogle/mlx-playground ba89cf0: `self.best_model = ChessNet(...)`,
    then `self.best_model.load_state_dict(self.model.state_dict())`)."""
    return {name for name, call in built_parts(source.tree)
            if isinstance(call.func, ast.Name) and call.func.id in names}


def on_module(source: SourceFile, name: str, call: ast.Call, owned: set[int],
              models: set[str]) -> bool:
    """`self` inside one of the module classes, or a name bound to an instance of one."""
    if name == "self":
        cls = source.enclosing(call, (ast.ClassDef,))
        return cls is not None and id(cls) in owned
    return name in models
