"""MLX120: a float32 additive mask in a half-precision program that calls the fused attention,
on small programs: MLX's builder without dtype= and a hand-written `mask * -1e9` fire; the
builder given the dtype, a mask cast before use, a float32 program and one that never calls
the fused kernel stay clean."""

from __future__ import annotations

from lint_snippets import fired

HAND = """
DTYPE = mx.bfloat16

def causal(n):
    idx = mx.arange(n)
    return (idx[:, None] < idx[None]) * -1e9

class Attention(nn.Module):
    def __call__(self, q, k, v, mask):
        return mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0, mask=mask)

class Model(nn.Module):
    def __call__(self, h):
        mask = causal(h.shape[1])
        other = nn.MultiHeadAttention.create_additive_causal_mask(h.shape[1])
        return self.attn(h, h, h, mask), other
"""


def test_mlx120_float32_masks_in_a_bfloat16_program_fire():
    assert fired(HAND, "MLX120") == [14, 15]


def test_mlx120_typed_cast_float32_and_unfused_programs_are_clean():
    typed = HAND.replace("create_additive_causal_mask(h.shape[1])",
                         "create_additive_causal_mask(h.shape[1], dtype=h.dtype)").replace(
        "        return self.attn(h, h, h, mask), other",
        "        mask = mask.astype(h.dtype)\n        return self.attn(h, h, h, mask), other")
    float32 = HAND.replace("DTYPE = mx.bfloat16", "DTYPE = mx.float32")
    unfused = HAND.replace("mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0, mask=mask)",
                           "mx.softmax(q @ k.T + mask, axis=-1) @ v")
    for program in (typed, float32, unfused):
        assert fired(program, "MLX120") == []


DEFAULTED = HAND.replace('''def causal(n):
    idx = mx.arange(n)
    return (idx[:, None] < idx[None]) * -1e9''', '''def causal(n, dtype=mx.float32):
    idx = mx.arange(n)
    return mx.where(idx[:, None] < idx[None], mx.array(float("-inf"), dtype=dtype),
                    mx.array(0.0, dtype=dtype))''')


def test_mlx120_a_builder_whose_dtype_defaults_to_float32():
    """fresh33 bf16_mask_gpt: the helper names a dtype, but its default is float32 and the
    model's call does not pass one; passing the activations' dtype is clean."""
    assert fired(DEFAULTED, "MLX120") == [15, 16]
    passed = DEFAULTED.replace("mask = causal(h.shape[1])", "mask = causal(h.shape[1], h.dtype)")
    assert fired(passed, "MLX120") == [16]
