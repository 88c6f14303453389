"""MLX076 on small programs: a module run inside an mx.custom_function (handed to its builder,
or closed over); and the near misses that stay silent (a custom function of its arguments
only, a builder handed a plain function)."""

from __future__ import annotations

from lint_snippets import fired

BUILDER = """
def clip_backward(fn, clip):
    @mx.custom_function
    def wrapped(x):
        return fn(x)

    @wrapped.vjp
    def wrapped_vjp(primals, cotangent, output):
        _, (dx,) = mx.vjp(fn, list(primals), [mx.clip(cotangent, -clip, clip)])
        return (dx,)

    return wrapped


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(4, 3)
        self.head = nn.Linear(3, 2)
        self._enc = clip_backward({given}, 0.5)
"""


def test_mlx076_a_layer_handed_to_a_custom_functions_builder() -> None:
    assert fired(BUILDER.format(given="self.encoder"), "MLX076") == [20]


def test_mlx076_a_module_instance_closed_over() -> None:
    code = ("model = nn.Linear(4, 2)\n\n@mx.custom_function\ndef f(x):\n"
            "    return model(x)\n")
    assert fired(code, "MLX076") == [4]


def test_mlx076_silent_on_plain_functions_and_own_arguments() -> None:
    assert fired(BUILDER.format(given="nn.tanh"), "MLX076") == []
    code = "@mx.custom_function\ndef ste(x):\n    return mx.round(x)\n"
    assert fired(code, "MLX076") == []
