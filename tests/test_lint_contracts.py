"""MLX030-MLX032 (rules/contracts.py) on small programs: each fires on a value handed to an
MLX API in a shape it does not take, however it is spelled, and stays silent on the fixed form.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

CLIP = """
for x, y in data:
    loss, g = loss_and_grad(model, x, y)
    {line}
    opt.update(model, {grads})
    mx.eval(model.parameters(), opt.state)
"""


@pytest.mark.parametrize("line, grads", [
    ("clipped = optim.clip_grad_norm(g, max_norm=1.0)", "clipped"),
    ("pass", "optim.clip_grad_norm(g, 1.0)"),
])
def test_mlx030_clip_pair_used_as_grads(line: str, grads: str) -> None:
    code = CLIP.replace("{line}", line).replace("{grads}", grads)
    assert fired(code, "MLX030") == [4 if line != "pass" else 5]


@pytest.mark.parametrize("line, grads", [
    ("clipped, norm = optim.clip_grad_norm(g, max_norm=1.0)", "clipped"),
    ("clipped = optim.clip_grad_norm(g, max_norm=1.0)[0]", "clipped"),
    ("res = optim.clip_grad_norm(g, max_norm=1.0)", "res[0]"),
])
def test_mlx030_unpacked_pair_is_clean(line: str, grads: str) -> None:
    assert fired(CLIP.replace("{line}", line).replace("{grads}", grads), "MLX030") == []


SAVE = """
optimizer = optim.AdamW(learning_rate=1e-3)

def checkpoint(path):
    {line}
"""


@pytest.mark.parametrize("line", [
    "mx.savez(path, **optimizer.state)",
    "state = optimizer.state\n    mx.savez(path, **state)",
    "mx.save_safetensors(path, dict(model.trainable_parameters()))",
    "mx.save(path, optimizer.state)",
])
def test_mlx031_nested_tree_saved(line: str) -> None:
    assert len(fired(SAVE.replace("{line}", line), "MLX031")) == 1


@pytest.mark.parametrize("line", [
    "mx.savez(path, **dict(tree_flatten(optimizer.state)))",
    "state = dict(tree_flatten(optimizer.state))\n    mx.save_safetensors(path, state)",
    "mx.save_safetensors(path, weights)",
    "mx.savez(path, state=mx.array(1))",
])
def test_mlx031_flat_mapping_is_clean(line: str) -> None:
    assert fired(SAVE.replace("{line}", line), "MLX031") == []


@pytest.mark.parametrize("code", [
    "opt = optim.Adam(learning_rate=1e-3, eps=0)",
    "opt = optim.AdamW(learning_rate=1e-3, eps=0.0)",
    "CFG = {'opt': {'learning_rate': 1e-3, 'eps': 0.0}}\nopt = optim.Adam(**CFG['opt'])",
    "kw = dict(learning_rate=1e-3)\nkw = {'eps': 0}\nopt = optim.RMSprop(**kw)",
    "opt = optim.Adam(1e-3, [0.9, 0.999], 0.0)",
    "CFG = {'lr': 1e-3, 'eps': 0.0}\nopt = optim.AdamW(learning_rate=CFG['lr'], eps=CFG['eps'])",
])
def test_mlx032_zero_epsilon(code: str) -> None:
    assert len(fired(code, "MLX032")) == 1


@pytest.mark.parametrize("code", [
    "opt = optim.Adam(learning_rate=1e-3, eps=1e-8)",
    "CFG = {'opt': {'learning_rate': 1e-3, 'eps': 1e-8}}\nopt = optim.Adam(**CFG['opt'])",
    "CFG = {'eps': 0.0}\nopt = optim.Adam(learning_rate=1e-3, **other)",
    "opt = optim.Adam(learning_rate=1e-3)",
    "opt = optim.SGD(1e-3, 0.0, 0.0)",
    "CFG = {'lr': 1e-3, 'eps': 1e-8}\nopt = optim.AdamW(learning_rate=CFG['lr'], eps=CFG['eps'])",
])
def test_mlx032_positive_or_default_epsilon_is_clean(code: str) -> None:
    assert fired(code, "MLX032") == []
