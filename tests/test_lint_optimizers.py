"""MLX072 and MLX082 on small programs: an optimizer whose second moment squares the
parameter, one that returns its step; and the near misses that stay silent (the gradient
squared, a weight EMA, a weight-decay term beside the gradient, a method that is not
apply_single, a return of the new parameter)."""

from __future__ import annotations

from lint_snippets import fired

OPT = """
class Mine(optim.Optimizer):
    def init_single(self, parameter, state):
        state["v"] = mx.zeros_like(parameter)

    def {name}(self, gradient, parameter, state):
        v = state["v"]
        parameter = parameter - self.learning_rate * gradient / (mx.sqrt(v) + 1e-8)
        {moment}
        state["v"] = v
        return parameter
"""


def test_mlx072_the_second_moment_of_the_weights() -> None:
    code = OPT.format(name="apply_single", moment="v = 0.99 * v + 0.01 * mx.square(parameter)")
    assert fired(code, "MLX072") == [9]
    code = OPT.format(name="apply_single", moment="v = 0.99 * v + 0.01 * parameter ** 2")
    assert fired(code, "MLX072") == [9]


def test_mlx072_silent_on_the_gradient_an_ema_or_another_method() -> None:
    for moment in ("v = 0.99 * v + 0.01 * mx.square(gradient)",
                   "v = 0.99 * v + 0.01 * parameter",
                   "v = 0.99 * v + 0.01 * (gradient + 1e-4 * parameter) ** 2"):
        assert fired(OPT.format(name="apply_single", moment=moment), "MLX072") == []
    code = OPT.format(name="helper", moment="v = 0.99 * v + 0.01 * mx.square(parameter)")
    assert fired(code, "MLX072") == []


STEP = """
class Mine(optim.Optimizer):
    def apply_single(self, gradient, parameter, state):
        m = 0.9 * state["m"] + 0.1 * gradient
        state["m"] = m
        step = self.learning_rate * m
        {ret}
"""


def test_mlx082_apply_single_returns_the_step() -> None:
    assert fired(STEP.format(ret="return step"), "MLX082") == [7]


def test_mlx082_silent_on_the_new_parameter() -> None:
    for ret in ("return parameter - step", "new = parameter - step\n        return new",
                "return parameter"):
        assert fired(STEP.format(ret=ret), "MLX082") == [], ret
