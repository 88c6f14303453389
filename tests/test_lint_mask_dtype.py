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


PADDED = """
class Attention(nn.Module):
    def __call__(self, q, k, v, pad):
        mask = mx.where(pad[:, None, None, :], 0.0, -1e9)
        return mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0, mask=mask)

model = Attention()
model.set_dtype(mx.bfloat16)
"""


def test_mlx120_a_padding_mask_selected_between_two_numbers():
    """fresh38 bf16_padmask_sdpa_dtype: mx.where of 0.0 and -1e9 is float32 in a bfloat16
    model; cast to the queries' dtype, or not the attention's mask, it is clean."""
    assert fired(PADDED, "MLX120") == [4]
    cast = PADDED.replace("scale=1.0, mask=mask)", "scale=1.0, mask=mask.astype(q.dtype))")
    cast = cast.replace("        return mx.fast", "        mask = mask.astype(q.dtype)\n"
                        "        return mx.fast")
    other = PADDED.replace("mask=mask)", "mask=None) + mask")
    for program in (cast, other):
        assert fired(program, "MLX120") == []
