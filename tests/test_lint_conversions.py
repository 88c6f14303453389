"""MLX114: a compiled function called in a loop that turns an argument into an array with
`mx.array`, on small programs: the conversion in the compiled function or in a helper it
hands the argument to fires at the call; data converted before the call, a conversion of a
module constant, and a compiled function called once stay clean."""

from __future__ import annotations

from lint_snippets import fired

HELPER = """
def encode(texts):
    ids = [[ord(c) % 128 for c in t] for t in texts]
    return mx.array(ids)

@mx.compile
def step(texts, y):
    tokens = encode(texts)
    loss, grads = vg(model, tokens, y)
    return loss, grads

for i in range(100):
    loss, grads = step(batch_texts(i), y)
    optimizer.update(model, grads)
"""
DIRECT = """
@mx.compile
def step(rows, y):
    x = mx.array(rows)
    return vg(model, x, y)

for rows, y in batches:
    loss, grads = step(rows, y)
    optimizer.update(model, grads)
"""


def test_mlx114_a_conversion_in_a_helper_fires_at_the_call():
    assert fired(HELPER, "MLX114") == [13]


def test_mlx114_a_conversion_in_the_compiled_function_fires():
    assert fired(DIRECT, "MLX114") == [8]


def test_mlx114_data_converted_before_the_call_is_clean():
    outside = DIRECT.replace("    x = mx.array(rows)\n    return vg(model, x, y)",
                             "    return vg(model, rows, y)").replace(
        "= step(rows, y)", "= step(mx.array(rows), y)")
    assert fired(outside, "MLX114") == []


def test_mlx114_a_module_constant_converted_inside_is_clean():
    constant = DIRECT.replace("mx.array(rows)", "mx.array(TABLE) * rows")
    assert fired(constant, "MLX114") == []


def test_mlx114_a_compiled_function_called_once_is_clean():
    once = DIRECT.replace("for rows, y in batches:\n    loss, grads = step(rows, y)",
                          "loss, grads = step(rows, y)\nfor _ in range(3):\n    pass")
    assert fired(once, "MLX114") == []


CLIP = """
@partial(mx.compile, inputs=state, outputs=state)
def update_fn(grads):
    flat = tree_flatten(grads)
    squares = [mx.sum(mx.square(g[1])) for g in flat]
    norm = mx.sqrt(mx.sum(mx.array(squares)))
    optimizer.update(model, tree_map(lambda g: g * mx.minimum(1.0, 1.0 / norm), grads))
    return norm

for x, y in batches:
    loss, grads = vg(model, x, y)
    norm = update_fn(grads)
    mx.eval(model.state, optimizer.state)
"""
FLAT_PAIRS = CLIP.replace("mx.square(g[1])", "mx.square(g)")


def test_mlx114_arrays_an_mlx_op_made_from_the_argument_are_no_python_data():
    """fresh40 accum_clip_tuple_leaves_ok: per-leaf sums stacked with `mx.array(squares)`
    in a compiled clip; the argument is a tree of arrays, traced once."""
    assert fired(CLIP, "MLX114") == []


def test_mlx004_pairs_bound_to_a_name_then_used_as_arrays():
    """fresh40 accum_clip_tuple_leaves (mlx-raclate fa7fd3b): `flat = tree_flatten(grads)`,
    then `mx.square(g)` of each (path, array) pair."""
    assert fired(FLAT_PAIRS, "MLX004") == [5]
    assert fired(CLIP, "MLX004") == []  # g[1]: the pair read as a pair
    rebound = FLAT_PAIRS.replace("    squares =", "    flat = list(grads.values())\n    squares =")
    assert fired(rebound, "MLX004") == []  # a binding that is not the pairs
