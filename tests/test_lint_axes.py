"""MLX078 on small programs: a softmax without an axis over a layer's output in a forward;
and the near misses that stay silent (an axis given, a 1-D slice, code outside a forward)."""

from __future__ import annotations

from lint_snippets import fired

POOL = """
class Pool(nn.Module):
    def __init__(self):
        super().__init__()
        self.score = nn.Linear(8, 1)

    def __call__(self, h):
        s = self.score(h)
        w = mx.expand_dims({call}, axis=-1)
        return (w * h).sum(axis=1)
"""


def test_mlx078_a_softmax_over_the_whole_batch() -> None:
    assert fired(POOL.format(call="mx.softmax(mx.squeeze(s, axis=-1))"), "MLX078") == [9]
    assert fired(POOL.format(call="mx.softmax(self.score(h)[..., 0] * 2.0)"), "MLX078") == [9]


def test_mlx078_silent_with_an_axis_on_a_slice_and_outside_a_forward() -> None:
    assert fired(POOL.format(call="mx.softmax(mx.squeeze(s, axis=-1), axis=-1)"), "MLX078") == []
    assert fired(POOL.format(call="mx.softmax(s[0:4])"), "MLX078") == []
    sample = "def sample(logits):\n    return mx.softmax(logits)\n"
    assert fired(sample, "MLX078") == []
