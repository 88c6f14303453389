"""MLX112: JAX spellings MLX lacks (`x.at[i].set(v)`, `has_aux=`), on small programs: each
fires where the spelling is, and MLX's own `x.at[i].add(v)`, a call without `has_aux` and a
module that imports jax as well stay clean."""

from __future__ import annotations

from lint_snippets import fired

PASTE = """
def cutmix(x, patch, y1, y2):
    mixed = x
    mixed = mixed.at[:, y1:y2].set(patch)
    return mixed.at[:, 0].add(1.0)
"""
AUX = """
def loss_fn(model, x):
    out = model(x)
    return out.sum(), out

step = nn.value_and_grad(model, loss_fn, has_aux=True)
plain = nn.value_and_grad(model, loss_fn)
also = mx.value_and_grad(loss_fn, has_aux=True)
"""


def test_mlx112_an_at_set_fires_and_an_at_add_does_not():
    assert fired(PASTE, "MLX112") == [4]


def test_mlx112_has_aux_fires_on_each_transformation_given_it():
    assert fired(AUX, "MLX112") == [6, 8]


def test_mlx112_a_module_that_imports_jax_is_left_alone():
    assert fired("import jax\n" + PASTE, "MLX112") == []
