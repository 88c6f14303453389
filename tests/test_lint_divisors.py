"""MLX041 and MLX042 (rules/divisors.py) on small programs: a differentiated loss divided by
the count of a per-row window mask, and a warmup ramp divided by a command-line length, fire;
a floored count, a plain length mask, a guarded or literal warmup stay silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

LOSS = """
MAX_LEN = 64
def encode(ids, prompt):
    return ids[:MAX_LEN], min(len(prompt), MAX_LEN)

def loss_fn(model, toks, offsets, lengths):
    inputs, targets = toks[:, :-1], toks[:, 1:]
    pos = mx.arange(1, targets.shape[1] + 1)[None, :]
    {mask}
    ce = nn.losses.cross_entropy(model(inputs), targets) * mask
    ntoks = mask.sum()
    return {ret}, ntoks

loss_and_grad = nn.value_and_grad(model, loss_fn)
"""


def loss(mask: str, ret: str) -> str:
    return LOSS.replace("{mask}", mask).replace("{ret}", ret)


@pytest.mark.parametrize("mask", [
    "mask = (pos >= offsets[:, None]) & (pos < lengths[:, None])",
    "mask = mx.logical_and(pos >= offsets[:, None], pos <= lengths[:, None])",
    "mask = ((offsets[:, None] <= pos) & (lengths[:, None] > pos)).astype(mx.float32)",
])
def test_mlx041_window_count_divides_the_loss(mask: str) -> None:
    assert fired(loss(mask, "ce.sum() / ntoks"), "MLX041") == [12]


@pytest.mark.parametrize("mask, ret", [
    ("mask = (pos >= offsets[:, None]) & (pos < lengths[:, None])",
     "ce.sum() / mx.maximum(ntoks, 1)"),
    ("mask = pos < lengths[:, None] - 1", "ce.sum() / ntoks"),
    ("mask = (pos >= 1) & (pos < lengths[:, None])", "ce.sum() / ntoks"),
    ("mask = offsets", "ce.sum() / ntoks"),
])
def test_mlx041_floored_or_length_only_masks_are_clean(mask: str, ret: str) -> None:
    assert fired(loss(mask, ret), "MLX041") == []


def test_mlx041_sequences_never_cut_are_clean() -> None:
    code = loss("mask = (pos >= offsets[:, None]) & (pos < lengths[:, None])",
                "ce.sum() / ntoks").replace("ids[:MAX_LEN], min(len(prompt), MAX_LEN)",
                                            "ids, len(prompt)")
    assert fired(code, "MLX041") == []


def test_mlx041_not_in_differentiated_code_is_clean() -> None:
    code = loss("mask = (pos >= offsets[:, None]) & (pos < lengths[:, None])",
                "ce.sum() / ntoks").replace("loss_and_grad = nn.value_and_grad(model, loss_fn)",
                                            "print(loss_fn(model, t, o, l))")
    assert fired(code, "MLX041") == []


WARMUP = """
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--lr_warmup", type=int, default=200)
args = parser.parse_args()
loss_and_grad = nn.value_and_grad(model, loss_fn)
for it in range(1000):
    {line}
    loss, grads = loss_and_grad(model, x, y)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
"""


@pytest.mark.parametrize("line", [
    "optimizer.learning_rate = min(1, it / args.lr_warmup) * 1e-3",
    "optimizer.learning_rate = 1e-3 * min(it / args.warmup_steps, 1.0)",
])
def test_mlx042_warmup_over_an_option(line: str) -> None:
    assert fired(WARMUP.replace("{line}", line), "MLX042") == [8]


@pytest.mark.parametrize("line", [
    "optimizer.learning_rate = min(1, it / max(args.lr_warmup, 1)) * 1e-3",
    "optimizer.learning_rate = min(1, it / 200) * 1e-3",
    "optimizer.learning_rate = min(1, it / args.lr_warmup) if args.lr_warmup else 1e-3",
    "optimizer.learning_rate = min(3, it / args.lr_warmup) * 1e-3",
    "if args.lr_warmup > 0:\n        optimizer.learning_rate = min(1, it / args.lr_warmup)",
])
def test_mlx042_floored_literal_or_guarded_warmup_is_clean(line: str) -> None:
    assert fired(WARMUP.replace("{line}", line), "MLX042") == []
