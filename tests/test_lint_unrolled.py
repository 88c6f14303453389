"""MLX081 on small programs: a loss that unrolls 131,072 chained steps; and the near misses
that stay silent (a short loop, a loop that chains nothing, the same loop outside a gradient)."""

from __future__ import annotations

from lint_snippets import fired

SIM = """
N_STEPS = {n}

def simulate(M, T):
    for _ in range(N_STEPS):
        {body}
    return T

def misfit(a):
    return mx.mean(simulate(a * EYE, T0) ** 2)

{grad}
"""
GRAD = "grad_fn = mx.value_and_grad(misfit)"


def test_mlx081_a_deep_chain_in_the_loss() -> None:
    assert fired(SIM.format(n="2 ** 17", body="T = T @ M", grad=GRAD), "MLX081") == [5]


def test_mlx081_silent_on_short_unchained_or_undifferentiated_loops() -> None:
    assert fired(SIM.format(n="5000", body="T = T @ M", grad=GRAD), "MLX081") == []
    assert fired(SIM.format(n="2 ** 17", body="print(1)", grad=GRAD), "MLX081") == []
    assert fired(SIM.format(n="2 ** 17", body="T = T @ M", grad=""), "MLX081") == []
