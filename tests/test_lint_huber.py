"""MLX077 on small programs: a hand-written smooth-L1 that branches on the signed error; and
the near misses that stay silent (the magnitude, a pinball loss's sign test)."""

from __future__ import annotations

from lint_snippets import fired

LOSS = """
def smooth_l1(pred, target, beta=0.1):
    diff = {diff}
    loss = mx.where({test}, 0.5 * diff ** 2 / beta, mx.abs(diff) - 0.5 * beta)
    return loss.mean()
"""


def test_mlx077_a_branch_on_the_signed_error() -> None:
    assert fired(LOSS.format(diff="pred - target", test="diff < beta"), "MLX077") == [4]
    assert fired(LOSS.format(diff="pred - target", test="beta > diff"), "MLX077") == [4]


def test_mlx077_silent_on_the_magnitude_and_on_a_sign_test() -> None:
    assert fired(LOSS.format(diff="mx.abs(pred - target)", test="diff < beta"), "MLX077") == []
    assert fired(LOSS.format(diff="pred - target", test="diff < 0"), "MLX077") == []
