"""MLX123: a constant past float16's range made into a float16 array, on small programs: a
sentinel of a value's dtype, mx.full in float16 and mx.where with a cast value fire; the
dtype's own minimum, a bfloat16 value and an in-range constant stay clean."""

from __future__ import annotations

from lint_snippets import fired

SENTINEL = """
def logprobs(logits, mask):
    lp = nn.log_softmax(logits.astype(mx.float16), axis=-1)
    lp = mx.where(mx.isnan(lp), mx.array(-1e6, dtype=lp.dtype), lp)
    fill = mx.full((4,), -1e5, dtype=mx.float16)
    return mx.where(mask, -1e9, lp), fill
"""


def test_mlx123_constants_past_65504_in_float16_fire():
    assert fired(SENTINEL, "MLX123") == [4, 5, 6]


def test_mlx123_finfo_bfloat16_and_small_constants_are_clean():
    finfo = SENTINEL.replace("mx.array(-1e6, dtype=lp.dtype)",
                             "mx.array(mx.finfo(lp.dtype).min, dtype=lp.dtype)").replace(
        "-1e5, dtype=mx.float16", "-6e4, dtype=mx.float16").replace(
        "mx.where(mask, -1e9, lp)", "mx.where(mask, -3e4, lp)")
    bfloat16 = SENTINEL.replace("mx.float16", "mx.bfloat16")
    assert fired(finfo, "MLX123") == []
    assert fired(bfloat16, "MLX123") == []


def test_mlx123_a_cast_inside_a_lambda_makes_its_results_float16():
    """fresh38 fp16_caption_dropout_attn: `half = lambda t: t.astype(mx.float16)`."""
    code = """
    def attend(x, wq, wk, key_mask):
        half = lambda t: t.astype(mx.float16)
        q, k = half(x @ wq), half(x @ wk)
        scores = q @ k.T
        scores = mx.where(key_mask, scores, mx.array(-1e9, dtype=scores.dtype))
        return mx.softmax(scores, axis=-1)
    """
    assert fired(code, "MLX123") == [6]
    assert fired(code.replace("mx.float16", "mx.bfloat16"), "MLX123") == []
