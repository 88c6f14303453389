"""MLX080 on small programs: a layer never used while a sibling of its kind is called twice;
and the near misses that stay silent (each layer used once, a layer read elsewhere, one
unused layer with no doubled sibling)."""

from __future__ import annotations

from lint_snippets import fired

BLOCK = """
class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.attn = nn.Linear(d, d)
        self.ln1 = nn.LayerNorm(d)
        self.ln2 = nn.LayerNorm(d)

    def __call__(self, x):
        x = self.ln1(x + self.attn(x))
        return {second}(x + self.attn(x))
"""


def test_mlx080_a_copied_call_leaves_its_sibling_unused() -> None:
    assert fired(BLOCK.format(second="self.ln1"), "MLX080") == [7]


def test_mlx080_silent_when_each_is_used_or_read_elsewhere() -> None:
    assert fired(BLOCK.format(second="self.ln2"), "MLX080") == []
    elsewhere = BLOCK.format(second="self.ln1") + "\ndef norms(b):\n    return b.ln2\n"
    assert fired(elsewhere, "MLX080") == []
    single = BLOCK.format(second="mx.tanh").replace("self.ln1(x + self.attn(x))", "x")
    assert fired(single, "MLX080") == []
