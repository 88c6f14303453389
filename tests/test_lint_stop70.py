"""Stop 70's lint changes, on the spelling their corpus case had and on the ones the rule must
still leave alone: MLX016 judges a differentiated function's data arguments as constants
(only what the transform differentiates carries a gradient), reads `x.shape`/`x.dtype` as
no value and a tuple unpacked from a constant as constants, and points at a host copy first.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

from lint_snippets import fired

# fresh238 `fourier_tensor_svec` (cvxpylayers 9069eba) in small: the model's output goes
# through NumPy two helpers down and comes back as mx.array; the loss still reaches its data
UNPACK = """
def to_matrix(v, n, batch, rows):
    out = []
    for b in range(batch[0]):
        host = np.zeros((n, n))
        host[rows, rows] = {copy}
        out.append(mx.array(host, dtype=v.dtype))
    return mx.stack(out)


def unpack(v, n, batch):
    rows, cols = np.tril_indices(n)
    return to_matrix(v, n, batch, rows)


def predict(model, x):
    return unpack(model(x), 3, (x.shape[0],))


def loss_fn(model, x, g, y):
    return mx.mean((mx.einsum("bij,bj->bi", predict(model, x), g) - y) ** 2)


model = nn.Linear(3, 6)
step = nn.value_and_grad({how})
for i in range(10):
    loss, grads = step(model, mx.ones((4, 3)), mx.ones((4, 3)), mx.ones((4, 3)))
"""


def test_a_prediction_sent_through_numpy_in_a_helper_is_a_cut_gradient() -> None:
    code = UNPACK.format(copy="np.array(v[b])", how="model, loss_fn")
    assert fired(code, "MLX016") == [6]


def test_the_same_helpers_kept_in_mlx_are_not() -> None:
    code = UNPACK.format(copy="0.0", how="model, loss_fn").replace(
        "mx.array(host, dtype=v.dtype)", "v[b] * mx.array(host, dtype=v.dtype)")
    assert fired(code, "MLX016") == []


def test_what_argnums_differentiates_carries_a_gradient() -> None:
    # `mx.value_and_grad(f, argnums=2)` differentiates `g`, which the loss reaches: no finding
    code = UNPACK.format(copy="np.array(v[b])", how="model, loss_fn").replace(
        "nn.value_and_grad(model, loss_fn)", "mx.value_and_grad(loss_fn, argnums=2)")
    assert fired(code, "MLX016") == []


def test_a_loss_over_a_global_model_with_the_data_first_is_left_alone() -> None:
    code = """
def loss_fn(x, y):
    return mx.mean((model(x) - y) ** 2)


model = nn.Linear(3, 3)
step = nn.value_and_grad(model, loss_fn)
for i in range(10):
    loss, grads = step(mx.ones((4, 3)), mx.ones((4, 3)))
    print(float(loss))
"""
    assert fired(code, "MLX016") == []
