"""Fix text computed from the shapes an MLX error message names.

Job: `note(text)` adds what the numbers of a shape error say to its known hint. One fact so
far: a matmul (a Linear layer) whose input is k*k times as wide as the layer, k >= 2: a
k x k spatial map flattened (`x.reshape(B, -1)`) into a layer built for its channels, where
the model meant to pool the spatial axes first. Measured on fresh24 `d24_resnet9_head_flatten`
(a ResNet9 head: `[addmm] ... (32,288) ... (32,4)`, a 3 x 3 x 32 map into `nn.Linear(32, 4)`;
the fix pools with `mx.max` over axes 1 and 2). A fix text only: no verdict depends on it.

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


def dims(text: str) -> list[int]:
    return [int(d) for d in text.replace(" ", "").split(",") if d]


def note(text: str) -> str:
    """The shapes' note for an error text, or ""."""
    found = MATMUL.search(text)
    if found is None:
        return ""
    first, second = dims(found.group(1)), dims(found.group(2))
    if not first or len(second) < 2:
        return ""
    f, w = first[-1], second[-2]
    if w <= 0 or f % w:
        return ""
    k = math.isqrt(f // w)
    return SPATIAL.format(r=f // w, f=f, w=w, k=k) if k >= 2 and k * k == f // w else ""
