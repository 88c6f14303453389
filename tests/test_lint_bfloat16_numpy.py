"""MLX119: a tree's leaves handed to NumPy as they are in a program that makes bfloat16 arrays,
on small programs: a loop and a dict comprehension over tree_flatten fire; a leaf cast first,
and the same program without bfloat16, stay clean."""

from __future__ import annotations

from lint_snippets import fired

SAVE = """
import numpy as np
from mlx.utils import tree_flatten

model.set_dtype(mx.bfloat16)

def save(opt, model):
    arrays = {}
    for name, val in tree_flatten(opt.state):
        arrays[name] = np.array(val)
    weights = {k: np.asarray(v) for k, v in tree_flatten(model.parameters())}
    np.savez("ckpt.npz", **arrays, **weights)
"""


def test_mlx119_leaves_to_numpy_in_a_bfloat16_program_fire():
    assert fired(SAVE, "MLX119") == [10, 11]


def test_mlx119_a_cast_leaf_and_a_float32_program_are_clean():
    cast = SAVE.replace("np.array(val)", "np.array(val.astype(mx.float32))").replace(
        "np.asarray(v)", "np.asarray(v.astype(mx.float32))")
    float32 = SAVE.replace("model.set_dtype(mx.bfloat16)\n", "")
    assert fired(cast, "MLX119") == []
    assert fired(float32, "MLX119") == []
