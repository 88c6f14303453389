"""MLX064 on small programs: tree_flatten paths handed to model.update(..., strict=False),
however the flat dict is built, and the nested or strict forms that stay silent."""

from __future__ import annotations

import pytest
from lint_snippets import fired


@pytest.mark.parametrize("build", [
    "new = {k: p - 0.1 * g for k, p in tree_flatten(model.parameters())}",
    "new = dict(tree_flatten(model.parameters()))",
    "new = {}\n    for name, g in tree_flatten(grads):\n        new[name] = g",
])
def test_mlx064_flat_paths_updated_non_strict(build: str) -> None:
    code = f"""
def step(grads):
    {build}
    model.update(new, strict=False)
"""
    assert fired(code, "MLX064") == [4 + build.count("\n")]


@pytest.mark.parametrize("update", [
    "model.update(tree_unflatten(list(new.items())), strict=False)",
    "model.update(new)",
    "model.update(grads, strict=False)",
])
def test_mlx064_nested_or_strict_updates_are_clean(update: str) -> None:
    code = f"""
from mlx.utils import tree_unflatten

def step(grads):
    new = dict(tree_flatten(model.parameters()))
    {update}
"""
    assert fired(code, "MLX064") == []
