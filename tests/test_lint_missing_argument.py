"""MLX125: the function a gradient transformation returns, called with fewer positional
arguments than the wrapped function requires, on small programs: a closure that gained a
parameter and `mx.grad` fire; calls with every argument, keyword or starred arguments, a
default and `*args` stay clean."""

from __future__ import annotations

from lint_snippets import fired

CLOSURE = """
def step(model, x, y):
    def loss_fn(policy_model):
        return policy_model(x).sum()
    grad_fn = nn.value_and_grad(model, loss_fn)
    loss, grads = grad_fn()
    g = mx.grad(lambda w, b: (w * b).sum())
    return g(w)
"""


def test_mlx125_calls_short_of_the_wrapped_functions_parameters_fire():
    assert fired(CLOSURE, "MLX125") == [6, 8]


def test_mlx125_full_keyword_starred_default_and_varargs_calls_are_clean():
    full = CLOSURE.replace("grad_fn()", "grad_fn(model)").replace("g(w)", "g(w, b)")
    assert fired(full, "MLX125") == []
    keyword = CLOSURE.replace("grad_fn()", "grad_fn(policy_model=model)").replace(
        "g(w)", "g(*ws)")
    assert fired(keyword, "MLX125") == []
    default = CLOSURE.replace("def loss_fn(policy_model)", "def loss_fn(policy_model=None)")
    assert fired(default.replace("g(w)", "g(w, b)"), "MLX125") == []
    varargs = CLOSURE.replace("def loss_fn(policy_model)", "def loss_fn(*models)")
    assert fired(varargs.replace("g(w)", "g(w, b)"), "MLX125") == []
