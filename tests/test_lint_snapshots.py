"""MLX071 on small programs: a weight derived once in __init__ from a parameter the forward
never reads; and the near misses that stay silent (derived in the forward, the parameter
also read in the forward, a derived buffer from a non-parameter, a refresh method)."""

from __future__ import annotations

from lint_snippets import fired

LAYER = """
class WNLinear(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.v = mx.random.normal((d_out, d_in))
        self.g = mx.ones((d_out,))
        {derive}

    def __call__(self, x):
        {forward}
    {extra}
"""
CACHED = "self._direction = self.v / mx.linalg.norm(self.v, axis=1, keepdims=True)"


def test_mlx071_a_direction_cached_in_init() -> None:
    code = LAYER.format(derive=CACHED, forward="return (x @ self._direction.T) * self.g",
                        extra="")
    assert fired(code, "MLX071") == [7]


def test_mlx071_silent_when_the_forward_reads_the_parameter_or_a_method_refreshes() -> None:
    forward = "d = self.v / mx.linalg.norm(self.v, axis=1, keepdims=True)\n        return x @ d.T"
    assert fired(LAYER.format(derive="", forward=forward, extra=""), "MLX071") == []
    both = "return (x @ self._direction.T) * self.g + (x @ self.v.T)"
    assert fired(LAYER.format(derive=CACHED, forward=both, extra=""), "MLX071") == []
    refresh = ("\n    def refresh(self):\n        self._direction = self.v / "
               "mx.linalg.norm(self.v, axis=1, keepdims=True)")
    code = LAYER.format(derive=CACHED, forward="return x @ self._direction.T", extra=refresh)
    assert fired(code, "MLX071") == []


def test_mlx071_silent_on_a_buffer_derived_from_a_setting() -> None:
    code = LAYER.format(derive="self._scale = mx.array(1.0) / self.g.shape[0] if False else 1",
                        forward="return x @ self.v.T * self.g", extra="")
    assert fired(code, "MLX071") == []
