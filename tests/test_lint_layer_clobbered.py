"""MLX136: a layer attribute rebound to an array made from its own parameters."""

from __future__ import annotations

from lint_snippets import fired

CODE = """
class Scorer(nn.Module):
    def __init__(self, n, d):
        super().__init__()
        self.table = nn.Embedding(n, d)
        self.table = nn.init.normal()(self.table.weight)

    def __call__(self, x):
        return x @ self.table.weight.T
"""


def test_mlx136_an_initializers_result_replaces_the_layer():
    assert fired(CODE, "MLX136") == [6]


def test_mlx136_an_array_expression_of_the_layers_weight_replaces_it():
    scaled = CODE.replace("nn.init.normal()(self.table.weight)", "self.table.weight * 0.02")
    assert fired(scaled, "MLX136") == [6]


def test_mlx136_assigning_the_parameter_or_a_layer_is_clean():
    weight = CODE.replace("        self.table = nn.init.normal()",
                          "        self.table.weight = nn.init.normal()")
    layer = CODE.replace("nn.init.normal()(self.table.weight)",
                         "nn.Embedding(self.table.weight.shape[0], 4)")
    array_use = CODE.replace("x @ self.table.weight.T", "x @ self.table.T")
    for code in (weight, layer, array_use):
        assert fired(code, "MLX136") == []
