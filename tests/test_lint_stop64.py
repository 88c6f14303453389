"""Stop 64's lint changes: MLX193's text test, which decides whether a file is parsed at all.

MLX193 reads a whole module, so its text test used to let every file with "mask" and "+" in
it through (756 of the packages' 1,875 files); it now asks for a plain name holding "mask"
beside a `+` or after a `+=` (46 files). The test must hold wherever the rule can fire: each
spelling of the addition still fires, and a file whose masks are only subscripted, called or
selected with `mx.where` is not parsed for it.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lint_snippets import fired
from test_lint_stop63 import LAYERS

from mlxprobe.lint.rules.boolean_add import mask_added

BOOLEAN = "idx[:, None] >= idx[None, :]"


@pytest.mark.parametrize("add", [
    "scores = mask + scores",
    "scores += mask",
    "scores = scores+mask",
    "scores = (mask) + scores",
    "scores = scores + (mask)",
])
def test_every_spelling_of_the_addition_still_fires(add: str) -> None:
    assert mask_added(LAYERS.format(add=add, mask=BOOLEAN))
    assert fired(LAYERS.format(add=add, mask=BOOLEAN), "MLX193") == [10]


SPACES = st.sampled_from(["", " ", "  ", " \\\n    ", "\n        "])
NAMES = st.sampled_from(["mask", "attn_mask", "Mask", "causal_MASK", "mask2", "key_mask_"])


@given(NAMES, SPACES, SPACES, st.booleans())
def test_a_plain_mask_name_beside_a_plus_passes_the_text_test(name: str, before: str,
                                                              after: str, left: bool) -> None:
    text = f"{name}{before}+{after}scores" if left else f"scores{before}+{after}{name}"
    assert mask_added(text)


@pytest.mark.parametrize("text", [
    "scores = scores + mask[:, None]",
    "scores = scores + mask.astype(scores.dtype)",
    "scores = scores + make_mask(n)",
    "scores = mx.where(mask, scores, -1e9)\nx = x + 1",
    "masked = x * mask\ny = y + 2",
])
def test_a_mask_only_subscripted_called_or_selected_fails_the_text_test(text: str) -> None:
    assert not mask_added(text)
