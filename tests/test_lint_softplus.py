"""MLX128: a hand-written softplus in differentiated code, on small programs: `log(1 +
exp(z))` in either order, inline or through a local name, and `log1p(exp(z))` fire; a clipped
exponent, `nn.softplus`, and the same code that no gradient runs through stay clean."""

from __future__ import annotations

from lint_snippets import fired

SOFTPLUS = """
def loss_fn(model, x):
    u = model(x)
    a = mx.sum(mx.log(1 + mx.exp(-2 * u)))
    e = mx.exp(u)
    b = mx.sum(mx.log(e + 1))
    c = mx.sum(mx.log1p(mx.exp(u)))
    return a + b + c

loss_and_grad = nn.value_and_grad(model, loss_fn)
"""


def test_mlx128_a_hand_written_softplus_fires():
    assert fired(SOFTPLUS, "MLX128") == [4, 6, 7]


def test_mlx128_bounded_library_and_untransformed_code_is_clean():
    clipped = SOFTPLUS.replace("u = model(x)", "u = mx.clip(model(x), -20, 20)")
    assert fired(clipped, "MLX128") == []
    library = SOFTPLUS.replace("mx.log(1 + mx.exp(-2 * u))", "nn.softplus(-2 * u)").replace(
        "mx.log(e + 1)", "mx.logaddexp(0, u)").replace("mx.log1p(mx.exp(u))", "u")
    assert fired(library, "MLX128") == []
    assert fired(SOFTPLUS.split("loss_and_grad =")[0], "MLX128") == []
