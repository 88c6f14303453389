"""Where a module's text binds a name (`name = ...`), found by `str.find`, for the rules'
text tests.

Job: one scan that several rules' `may_fire` share: a regex per name over a whole file cost
0.09 s over mlx-lm, mlx-lm-lora and mlx-vlm (MLX149), where `str.find` costs next to nothing.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

from collections.abc import Iterator


def bound_at(text: str, name: str) -> Iterator[tuple[int, int]]:
    """(start, end of line) of each `name =` in `text` (an attribute's or a longer name's
    too: the caller tests what stands before it when that matters)."""
    at = text.find(name + " =")
    while at != -1:
        end = text.find("\n", at)
        yield at, end if end != -1 else len(text)
        at = text.find(name + " =", at + 1)
