"""MLX049 (rules/alignment.py) on small programs: scores gathered at targets x[:, 1:] times a
mask sliced [:, :-1] fire, through names and casts; a mask shifted like the targets, a mask
that is not a slice, and a mask of the targets' own array stay silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

CODE = """
def get_logps(model, tokens, mask):
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    logp = nn.log_softmax(model(inputs), axis=-1)
    tok_logp = mx.take_along_axis(logp, targets[..., None], axis=-1).squeeze(-1)
    {mask}
    return {ret}
"""


def code(mask: str, ret: str = "(tok_logp * m).sum(-1) / m.sum(-1)") -> str:
    return CODE.replace("{mask}", mask).replace("{ret}", ret)


@pytest.mark.parametrize("snippet", [
    code("m = mask[:, :-1]"),
    code("m = mask[:, :-1].astype(mx.float32)"),
    code("m = mask[:, :-1]", "(m * tok_logp).sum(-1)"),
    code("m = mask", "(nn.losses.cross_entropy(model(inputs), targets) * mask[:, :-1]).sum()"),
])
def test_mlx049_mask_sliced_like_the_inputs(snippet: str) -> None:
    assert fired(snippet, "MLX049") == [7]


@pytest.mark.parametrize("snippet", [
    code("m = mask[:, 1:]"),
    code("m = (targets != 0).astype(mx.float32)"),
    code("m = tokens[:, :-1] != 0"),
    code("m = mask", "(tok_logp * m[:, 1:]).sum()"),
])
def test_mlx049_mask_shifted_like_targets_is_clean(snippet: str) -> None:
    assert fired(snippet, "MLX049") == []
