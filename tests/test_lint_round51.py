"""From fresh50's held-out half: MLX025 on a model whose parameters a `tree_map` casts to
float16 through `model.update` before the update that trains it, and not after training (a
small checkpoint cast once training is done). From fresh51 (correct loops only): MLX128 and
MLX148 quiet on the two spellings they fired on there."""

from __future__ import annotations

import pytest
from lint_snippets import fired

CAST = """
model = nn.Linear(4, 4)
optimizer = optim.AdamW(learning_rate=1e-3)
{before}
for step in range(100):
    loss, grads = nn.value_and_grad(model, lambda m: m(mx.ones((2, 4))).sum())(model)
    optimizer.update(model, grads)
{after}
"""
HALF = "model.update(tree_map(lambda a: a.astype(mx.float16), model.parameters()))"


@pytest.mark.parametrize("before, after, lines", [
    (HALF, "", [4]),
    ("", HALF, []),  # cast for the checkpoint once training is done
    (HALF.replace("float16", "float32"), "", []),
    (HALF + "\nmodel.freeze()", "", []),  # frozen: nothing of it trains
])
def test_mlx025_parameters_cast_to_float16_by_update_before_training(before: str, after: str,
                                                                   lines: list[int]):
    assert fired(CAST.format(before=before, after=after), "MLX025") == lines


SOFTPLUS = """
def bce(w, x, y):
    z = x @ w
    return mx.mean(mx.maximum(z, 0) - z * y + mx.log1p(mx.exp({exponent})))

grad_fn = mx.value_and_grad(bce)
"""


@pytest.mark.parametrize("exponent, lines", [("z", [4]), ("-mx.abs(z)", [])])
def test_mlx128_leaves_the_stable_softplus_of_a_negated_magnitude_alone(exponent: str,
                                                                       lines: list[int]):
    # fresh51 binary_adder_csv_compiled: log1p(exp(-|z|)) never overflows
    assert fired(SOFTPLUS.format(exponent=exponent), "MLX128") == lines


REPORT = """
model = nn.Linear(4, 3)
for step in range(3):
    pred = mx.argmax(model(mx.ones((8, 4))), axis=1)
    acc = float(mx.mean(pred == 1))
{rebind}
y = np.arange(8) % 3
print((pred[y == 1] == 1).mean())
"""


@pytest.mark.parametrize("rebind, lines", [
    ("pred = np.array(mx.argmax(model(mx.ones((8, 4))), axis=1))", []),
    ("", [8]),  # still the MLX array: MLX has no boolean indexing
])
def test_mlx148_a_module_level_name_rebound_to_numpy_is_numpy(rebind: str, lines: list[int]):
    assert fired(REPORT.format(rebind=rebind), "MLX148") == lines
