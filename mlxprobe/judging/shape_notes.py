"""Fix text computed from the shapes an MLX error message names.

Job: `note(text)` adds what the numbers of a shape error say to its known hint. One fact so
far: a matmul (a Linear layer) whose input is k*k times as wide as the layer, k >= 2: a
k x k spatial map flattened (`x.reshape(B, -1)`) into a layer built for its channels, where
the model meant to pool the spatial axes first. Measured on fresh24 `d24_resnet9_head_flatten`
(a ResNet9 head: `[addmm] ... (32,288) ... (32,4)`, a 3 x 3 x 32 map into `nn.Linear(32, 4)`;
the fix pools with `mx.max` over axes 1 and 2). A second: a broadcast of two shapes of one rank
that differ on one axis only, where one is k times the other (k >= 2): a per-sample array built
from the whole batch (concatenated k times over), or a flattened (batch x length) array meeting
a per-sample one. Measured on fresh34 `slot_mask_concat` (`Shapes (48) and (384)`: each of 8
samples' masks compared the whole batch's 48 slot indices, 8 x 48). A third: a broadcast of a
2-D (B, S) array with a 4-D (B, H, L, L) one: a padding mask (batch, length) met attention
scores (batch, heads, queries, keys), which take an additive mask broadcast to that shape.
Measured on fresh50 `vlm_mask_passthrough` (mlx-vlm PR 763: `Shapes (8,18) and (8,4,17,17)`,
the processor's attention mask handed to the model as its `mask`; the fix passes None and
the layer builds its causal mask). A fourth: a loss given predictions and targets of one rank
(>= 3) that agree on the batch and channel axes, the predictions smaller on every axis between
by the same amount: a convolution (or pooling) without the padding its kernel and dilation
need shrank the spatial axes. Measured on fresh56 `voxel_conv3d_arg_swap` (mlx PR 3793:
`Inputs shape (20, 6, 6, 6, 1) does not match targets shape (20, 12, 12, 12, 1)`, an
`nn.Conv3d(ch, ch, 5, 1, 1, 2)` written in the docs' old order, padding 1 and dilation 2
where dilation 1 and padding 2 were meant). A fifth: a reshape of an array that holds exactly
k >= 2 times the elements of the shape asked for (no -1 in it): an axis of size k was carried
where it should have been reduced (scores stacked over k sources, such as reward functions or
heads, meant to be weighted and summed over that axis, left as they are on one branch) or
the batch repeated k times. Measured on fresh183 `digit_echo_grpo_weights` (mlx-lm's GRPO
loss: `Cannot reshape array of size 96 into shape (8,6)`, the (48, 2) rewards of two reward
functions weighted and summed only when no weights were given; the fix moves the weighted sum
out of the `else`). A sixth: a matmul whose layer's input width is what a quantized
layer's packed weight gives with the wrong arithmetic: a uint32 column packs 32 / bits
values, and a width recovered as `input_dims *= 2 * bits` is 4x the input at 8 bits (1/4
at 2 bits is a 2 x 2 map's ratio, and that note goes first), one recovered as
`input_dims *= 32 // bits` is 15/16 of it at 3, 5 or 6 bits (32 // 6 = 5 where 5.33 was
meant). Measured on fresh204 `tollbooth_axle_qlora8` and fresh213 `maltfloor_qlora8_dims`
(mlx-examples PR 219: `(512,128)` into `(512,8)`, `(500,64)` into `(256,8)`, LoRA over an
8-bit base) and fresh140 `inkjet_nozzle_qlora_sixbit` (mlx-lm PR 165: `(64,64)` into
`(60,8)`, 6 bits). The note says "when the layer wraps a quantized one": the same ratios
have other causes (a patch merger's 2 x 2 = 4). A seventh: a broadcast of a 1-D array (n,)
with an array of rank >= 2 whose first axis is n and whose last is not: a per-sample value
(a timestep, a noise level, a weight) met a batch, and broadcasting lines shapes up from the
last axis, so it needs the batch's rank. Measured on fresh218 `dreambooth_sampler_tshape`
(mlx-examples PR 1135: `Shapes (4,16,8) and (4)`, FLUX's sampler mixing latents and noise
with `t` of shape (B,); the fix reshapes `t` to (B, 1, 1)); no other kept run's broadcast
error has this shape.
An eighth: a concatenate whose operands disagree on an axis other than the one joined: which
operands have which size there, since the message lists the shapes and the user's line
names the operands in that order. Measured on fresh336 `sluicegate_culvert_gnblock`
(mlx-graphs 761b8a1: `(4,2), (4,2), (2,1), (2,2)` joined on axis 1, the 3rd and 4th, the
edge features and a tile of the graph features, made with `edge_index.shape[0]` rows, 2,
for a (2, E) index array's E = 4; the known hint alone spoke of padding sequences).
A fix text only: no verdict depends on any.

Written by hand: `re` reads the message. Must not import: mlx, the watching side.
"""

from __future__ import annotations

import math
import re

MATMUL = re.compile(r"\[(?:matmul|addmm)\] Last dimension of first input with shape "
                    r"\(([\d, ]+)\) must match second to last dimension of second input "
                    r"with shape \(([\d, ]+)\)")
SPATIAL = ("; the input is {r}x the layer's width ({f} = {w} x {k} x {k}): a {k} x {k} spatial "
           "map flattened into a layer built for its {w} channels: pool the spatial axes "
           "before it, `x = x.mean(axis=(1, 2))` (or `mx.max(x, axis=(1, 2))`), or build the "
           "layer for {f} inputs")


PACKED_RATIOS = (4.0, 15 / 16)
PACKED = ("; the layer takes {w} inputs where {f} came: when it wraps a quantized layer, its "
          "input width was recovered from the packed weight with the wrong arithmetic. A "
          "uint32 column of a quantized weight packs 32 / bits values, so multiply before "
          "dividing, `input_dims = linear.weight.shape[1] * 32 // linear.bits` "
          "(`input_dims *= 2 * bits` is right at 4 bits only, `input_dims *= 32 // bits` "
          "rounds 32 // 6 down to 5 at 3, 5 or 6 bits), or take the width from the "
          "unquantized base")


PER_SAMPLE = ("; a per-sample array {small} met a batch {big}: broadcasting lines shapes up "
              "from the last axis, so a (batch,) value meets the last axis, not the batch: "
              "give it the batch's rank, `t = t.reshape(-1{pad})` (`t.reshape([-1] + [1] * "
              "(x.ndim - 1))`), as a timestep, noise level or weight mixed into a batch needs")


BROADCAST = re.compile(r"\[broadcast_shapes\] Shapes \(([\d, ]+)\) and \(([\d, ]+)\)")
MULTIPLE = ("; one axis is {k}x the other's ({small} and {big}): an array built from the whole "
            "batch where one sample's part was meant (a per-sample mask or index range "
            "concatenated over the batch, then used per sample), or a flattened (batch x "
            "length) array meeting an unflattened one: build each sample's part from its own "
            "slice (`x[i]`), and flatten both sides or neither")


ATTENTION = ("; a (batch, length) array {small} met attention scores {big} (batch, heads, "
             "queries, keys): a padding mask given where attention takes an additive mask "
             "that broadcasts to the scores: pass `mask=None` (or \"causal\") and let the "
             "layer build its causal mask, or expand the padding mask over the keys the "
             "scores use, `mx.where(pad[:, None, None, :], 0.0, -1e9)` (built from the same, "
             "shifted, sequence as the inputs)")


LOSS_SHAPES = re.compile(r"Inputs shape \(([\d, ]+)\) does not match targets shape "
                         r"\(([\d, ]+)\)")
SHRUNK = ("; the predictions {small} are the targets {big} less {d} on every spatial axis: a "
          "convolution (or pooling) without the padding its kernel needs shrank them (a "
          "stride-1 convolution keeps the size when padding = dilation x (kernel - 1) / 2). "
          "Check each conv's padding and dilation, and give them by keyword: `nn.Conv{n}d(c, "
          "c, kernel_size=5, stride=1, padding=2, dilation=1)` (the positional order is "
          "stride, padding, dilation)")


RESHAPE = re.compile(r"\[reshape\] Cannot reshape array of size (\d+) into shape \(([\d, ]+)\)")
UNREDUCED = ("; the array holds {k}x the elements the shape takes ({size} into {shape}, {want}): "
             "an axis of {k} was carried where it should have been reduced (scores stacked "
             "over {k} sources, reward functions or heads, meant to be weighted and summed "
             "over that axis, `(x * weights).sum(axis=-1)`, left as they are on some branch: "
             "reduce it on every path), or the batch was repeated {k} times; print the array's "
             "shape before the reshape")


CONCATENATED = re.compile(r"\[concatenate\].*?shapes are ((?:\([\d, ]+\),?\s*(?:and\s*)?)+)"
                          r".*?concatenation axis is (-?\d+)")
SHAPE = re.compile(r"\(([\d, ]+)\)")
JOINED = ("; the operands disagree on axis {other}, not the one joined ({axis}): {groups} (in "
          "the order the line lists them): make each from the same size on that axis; a "
          "size read from another axis of its source (`x.shape[0]` for `x.shape[1]`: a (2, "
          "E) index array's 2 for its E entries) or another batch's gives such a mismatch")


def dims(text: str) -> list[int]:
    return [int(d) for d in text.replace(" ", "").split(",") if d]


def shapes(pattern: re.Pattern, text: str) -> tuple[list[int], list[int]] | None:
    """The two shapes `pattern`'s first two groups name in `text`, or None."""
    found = pattern.search(text)
    return None if found is None else (dims(found.group(1)), dims(found.group(2)))


def widths(text: str) -> tuple[int, int] | None:
    """A matmul error's input width and the layer's (first input's last axis, the second's
    second to last), or None."""
    found = shapes(MATMUL, text)
    if found is None or not found[0] or len(found[1]) < 2:
        return None
    return found[0][-1], found[1][-2]


def note(text: str) -> str:
    """The shapes' note for an error text, or ""."""
    return (spatial(text) or packed(text) or multiple(text) or attention(text)
            or per_sample(text) or shrunk(text) or unreduced(text) or joined(text))


def joined(text: str) -> str:
    """Which operands of a concatenate have which size on the first axis they disagree on
    other than the one joined."""
    found = CONCATENATED.search(text)
    operands = [dims(one) for one in SHAPE.findall(found.group(1))] if found else []
    if len(operands) < 2 or len({len(d) for d in operands}) != 1:
        return ""
    axis = int(found.group(2)) % len(operands[0])
    other = next((a for a in range(len(operands[0])) if a != axis
                  and len({d[a] for d in operands}) > 1), None)
    if other is None:
        return ""
    sizes: dict[int, list[str]] = {}
    for at, d in enumerate(operands, 1):
        sizes.setdefault(d[other], []).append(str(at))
    groups = ", ".join(f"operand{'s' * (len(n) > 1)} {' and '.join(n)}: {size}"
                       for size, n in sizes.items())
    return JOINED.format(other=other, axis=axis, groups=groups)


def per_sample(text: str) -> str:
    """A (n,) array broadcast against a (n, ..., m) batch, m != n."""
    found = shapes(BROADCAST, text)
    if found is None:
        return ""
    one, other = sorted(found, key=len)
    if len(one) != 1 or len(other) < 2 or other[0] != one[0] or other[-1] == one[0]:
        return ""
    return PER_SAMPLE.format(small=tuple(one), big=tuple(other), pad=", 1" * (len(other) - 1))


def packed(text: str) -> str:
    """A matmul's layer width 4x or 15/16 of its input's: a quantized layer's packed
    width recovered with the wrong factor."""
    found = widths(text)
    if found is None or min(found) <= 0:
        return ""
    f, w = found
    return PACKED.format(w=w, f=f) if w / f in PACKED_RATIOS else ""


def multiple(text: str) -> str:
    """Two shapes of one rank, one axis apart, one k >= 2 times the other."""
    found = shapes(BROADCAST, text)
    if found is None:
        return ""
    first, second = found
    apart = [(a, b) for a, b in zip(first, second) if a != b]
    if len(first) != len(second) or len(apart) != 1 or 0 in apart[0]:
        return ""
    small, big = sorted(apart[0])
    return MULTIPLE.format(k=big // small, small=small, big=big) if (
        small > 1 and big % small == 0) else ""


def spatial(text: str) -> str:
    """A matmul's input k*k times the layer's width."""
    found = widths(text)
    if found is None:
        return ""
    f, w = found
    if w <= 0 or f % w:
        return ""
    k = math.isqrt(f // w)
    return SPATIAL.format(r=f // w, f=f, w=w, k=k) if k >= 2 and k * k == f // w else ""


def attention(text: str) -> str:
    """A (B, S) array broadcast against (B, H, L, L) attention scores."""
    found = shapes(BROADCAST, text)
    if found is None:
        return ""
    small, big = sorted(found, key=len)
    if len(small) != 2 or len(big) != 4 or big[2] != big[3] or small[0] != big[0]:
        return ""
    return ATTENTION.format(small=tuple(small), big=tuple(big))


def shrunk(text: str) -> str:
    """Predictions smaller than their targets by one amount on every axis between the batch
    and the channels."""
    found = shapes(LOSS_SHAPES, text)
    if found is None:
        return ""
    small, big = found
    if len(small) != len(big) or len(small) < 3 or (small[0], small[-1]) != (big[0], big[-1]):
        return ""
    gaps = {b - a for a, b in zip(small[1:-1], big[1:-1])}
    if len(gaps) != 1 or min(gaps) <= 0:
        return ""
    return SHRUNK.format(small=tuple(small), big=tuple(big), d=gaps.pop(), n=len(small) - 2)


def unreduced(text: str) -> str:
    """A reshape of an array k >= 2 times the size of the shape asked for."""
    found = RESHAPE.search(text)
    if found is None:
        return ""
    size, shape = int(found.group(1)), dims(found.group(2))
    want = math.prod(shape)
    if not shape or want <= 0 or size <= want or size % want:
        return ""
    return UNREDUCED.format(k=size // want, size=size, shape=tuple(shape), want=want)
