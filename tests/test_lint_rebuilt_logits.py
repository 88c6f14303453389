"""MLX140: logits rebuilt from a layer's weight without the scale the forward applies."""

from __future__ import annotations

from lint_snippets import fired

CODE = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(8, 16)
        self.head = nn.Linear(16, 4)
        self.output_multiplier = 0.2

    def __call__(self, x):
        z = self.head(self.hidden(x)) * self.output_multiplier
        return 30.0 * mx.tanh(z / 30.0)

def fused_ce(model, x, y):
    h = model.hidden(x)
    z = h @ model.head.weight.T
    return nn.losses.cross_entropy(30.0 * mx.tanh(z / 30.0), y, reduction="mean")
"""


def test_mlx140_logits_rebuilt_without_the_forwards_multiplier():
    assert fired(CODE, "MLX140") == [15]


def test_mlx140_with_the_scale_or_an_unscaled_forward_is_clean():
    scaled = CODE.replace("z = h @ model.head.weight.T",
                          "z = (h @ model.head.weight.T) * model.output_multiplier")
    unscaled = CODE.replace(" * self.output_multiplier", "")
    matmul = CODE.replace("h @ model.head.weight.T", "mx.matmul(h, model.head.weight.T)")
    for code in (scaled, unscaled):
        assert fired(code, "MLX140") == []
    assert fired(matmul, "MLX140") == [15]
