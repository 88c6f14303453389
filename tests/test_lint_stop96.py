"""Stop 96's lint changes, each on the shape of the corpus script that showed it:
- MLX019 leaves alone a private random array that the program hands to a custom function
  whose own VJP gives that argument no gradient (`mx.zeros_like(back)`): feedback
  alignment's fixed random matrix, constant on purpose (fresh380 `orchard_feedback_align`,
  correct); a VJP that does give it a gradient still fires.

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import fired

FEEDBACK = """
@mx.custom_function
def fa_dense(x, w, b, back):
    return x @ w.T + b

@fa_dense.vjp
def fa_dense_vjp(primals, cotangent, output):
    x, w, b, back = primals
    g = cotangent
    return g @ back, g.T @ x, mx.sum(g, axis=0), {grad_back}

class FADense(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.weight = mx.random.uniform(-0.1, 0.1, (d_out, d_in))
        self.bias = mx.zeros((d_out,))
        self._back = mx.random.uniform(-0.1, 0.1, (d_out, d_in))

    def __call__(self, x):
        return fa_dense(x, self.weight, self.bias, self._back)
"""


def test_mlx019_is_quiet_for_an_array_the_custom_vjp_gives_no_gradient() -> None:
    assert fired(FEEDBACK.format(grad_back="mx.zeros_like(back)"), "MLX019") == []
    assert fired(FEEDBACK.format(grad_back="None"), "MLX019") == []


def test_mlx019_fires_when_the_custom_vjp_gives_the_private_array_a_gradient() -> None:
    assert fired(FEEDBACK.format(grad_back="g.T @ x"), "MLX019") == [17]
