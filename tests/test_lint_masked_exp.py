"""MLX111 (rules/masked_exp.py): an exponential of a difference masked by multiplication,
with its near misses (the mask inside the exponent, an exp of no difference, a product with
something that is no mask)."""

from __future__ import annotations

from lint_snippets import fired

DECAY = """
import mlx.core as mx
import mlx.nn as nn

class Retention(nn.Module):
    def __call__(self, x, log_g):
        t = x.shape[1]
        cum = mx.cumsum(log_g, axis=-1)
        causal = mx.tril(mx.ones((t, t), dtype=mx.bool_))
        decay = mx.exp(cum[:, :, None] - cum[:, None, :]) * causal
        return decay @ x
"""


def test_an_exp_of_a_difference_times_a_triangle_is_found():
    assert fired(DECAY, "MLX111") == [10]


def test_a_comparison_mask_inline_or_cast_is_found():
    inline = DECAY.replace("* causal", "* (mx.arange(t)[:, None] >= mx.arange(t)[None])")
    assert fired(inline, "MLX111") == [10]
    cast = DECAY.replace("causal = mx.tril(mx.ones((t, t), dtype=mx.bool_))",
                         "causal = (mx.arange(t)[:, None] >= mx.arange(t)).astype(x.dtype)")
    assert fired(cast, "MLX111") == [10]


def test_the_fix_and_the_near_misses_are_quiet():
    fixed = DECAY.replace("mx.exp(cum[:, :, None] - cum[:, None, :]) * causal",
                          "mx.exp(mx.where(causal, cum[:, :, None] - cum[:, None, :], -mx.inf))")
    assert fired(fixed, "MLX111") == []
    no_difference = DECAY.replace("mx.exp(cum[:, :, None] - cum[:, None, :])", "mx.exp(-cum)")
    assert fired(no_difference, "MLX111") == []
    no_mask = DECAY.replace("causal = mx.tril(mx.ones((t, t), dtype=mx.bool_))",
                            "causal = mx.ones((t, t))")
    assert fired(no_mask, "MLX111") == []


def test_mlx111_an_exponential_selected_against_0_by_where_has_a_nan_gradient():
    code = """
    def mix(g):
        causal = mx.tril(mx.ones((8, 8))).astype(mx.bool_)
        diff = g[:, :, None] - g[:, None, :]
        decay = mx.where(causal, mx.exp(diff), 0.0)
        fixed = mx.exp(mx.where(causal, diff, 0.0)) * causal
        return decay, fixed
    """
    assert fired(code, "MLX111") == [5]
