"""MLX035 and a causal mask kept on the module (`self._mask = mx.tril(...)` in __init__): the
-inf where the band is 0 keeps the diagonal (silent, fresh8's fixed twin); the two branches
of `mx.where` swapped mask the diagonal and the last row is all -inf (fired)."""

from __future__ import annotations

from lint_snippets import fired

ATTENTION = """
class Attention(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self._mask = mx.tril(mx.ones((n, n)))

    def __call__(self, q, k):
        T = q.shape[1]
        att = q @ k.transpose(0, 2, 1)
        att = mx.where({where})
        return mx.softmax(att, axis=-1)

def loss_fn(model, q, k):
    return model(q, k).sum()

vg = nn.value_and_grad(model, loss_fn)
"""


def test_mlx035_silent_on_a_causal_mask_from_init() -> None:
    where = 'self._mask[:T, :T] == 0, float("-inf"), att'
    assert fired(ATTENTION.format(where=where), "MLX035") == []
    where = 'self._mask[:T, :T] > 0, att, float("-inf")'
    assert fired(ATTENTION.format(where=where), "MLX035") == []


def test_mlx035_the_branches_swapped_mask_the_diagonal() -> None:
    where = 'self._mask[:T, :T] == 0, att, float("-inf")'
    assert fired(ATTENTION.format(where=where), "MLX035") == [11]
