"""Stop 75's lint changes, on the spelling their corpus case had and on the ones the rules must
still find: MLX023 leaving a compiled loss that loads its own argument into the model alone,
MLX126 leaving a NumPy-computed constant added to a loss alone.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

from lint_snippets import HEADER, fired

COMPILED = """
model = nn.Linear(4, 2)
optimizer = optim.Adam(learning_rate=1e-3)


@mx.compile
def loss_fn(params, x, y):
    model.update(LOADED)
    return nn.losses.cross_entropy(model(x), y).mean()


for x, y in batches():
    loss, grads = mx.value_and_grad(loss_fn)(model.parameters(), x, y)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
"""


def test_a_compiled_loss_that_loads_its_own_argument_into_the_model_is_left_alone() -> None:
    # fresh258 millrace_sluice_scan (mlx-playground 50b6d7a): the fixed twin reaches val acc 1.0
    assert fired(COMPILED.replace("LOADED", "params"), "MLX023") == []


def test_a_compiled_function_that_loads_a_tree_it_made_is_still_found() -> None:
    made = COMPILED.replace("LOADED", "tree_map(lambda p: p * 0.5, params)")
    assert fired(made, "MLX023") == [6]
    assert fired(COMPILED.replace("LOADED", "new_params"), "MLX023") == [6]


PENALISED = """
def nll(model, x, y):
    mu, lv = model(x)
    return (0.5 * (lv + (y - mu) ** 2 * mx.exp(-lv))).mean() + SHIFT


loss_and_grad = nn.value_and_grad(model, nll)
"""


def test_a_numpy_constant_added_to_a_loss_is_left_alone() -> None:
    # fresh258 sledteam_pace_hold: `+ float(np.log(ys))`, ys a NumPy standard deviation
    assert fired(PENALISED.replace("SHIFT", "float(np.log(ys))"), "MLX126") == []
    with_math = HEADER + "import math\n"
    assert fired(PENALISED.replace("SHIFT", "float(math.log(two))"), "MLX126", with_math) == []


def test_an_array_made_a_float_in_a_loss_is_still_found() -> None:
    assert fired(PENALISED.replace("SHIFT", "float(mx.log(ys))"), "MLX126") == [4]
    assert fired(PENALISED.replace("SHIFT", "float(penalty)"), "MLX126") == [4]
