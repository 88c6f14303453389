"""MLX103 (rules/lora_scale.py) on small programs: an adapter given alpha and rank whose
forward scales its low-rank update by alpha alone fires (alpha kept as `self.alpha` or as
`self.scale = alpha`); a scale of alpha / rank, a forward that reads the rank, mlx-lm's
`scale` argument and an alpha with no matrix product stay silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

ADAPTER = """
class LoRA(nn.Module):
    def __init__(self, linear, rank=8, alpha=16.0):
        super().__init__()
        self.linear = linear
        out_dims, in_dims = linear.weight.shape
        self.A = mx.zeros((in_dims, rank))
        self.B = mx.zeros((rank, out_dims))
        {keep}

    def __call__(self, x):
        return self.linear(x) + {use}
"""


def adapter(keep: str, use: str) -> str:
    return ADAPTER.replace("{keep}", keep).replace("{use}", use)


@pytest.mark.parametrize("keep, use", [
    ("self.rank = rank\n        self.alpha = alpha", "self.alpha * ((x @ self.A) @ self.B)"),
    ("self.scale = alpha", "self.scale * ((x @ self.A) @ self.B)"),
    ("self.r = rank\n        self.lora_alpha = alpha", "((x @ self.A) @ self.B) * self.lora_alpha"),
])
def test_mlx103_update_scaled_by_alpha_alone(keep: str, use: str) -> None:
    assert len(fired(adapter(keep, use), "MLX103")) == 1


@pytest.mark.parametrize("keep, use", [
    ("self.scale = alpha / rank", "self.scale * ((x @ self.A) @ self.B)"),
    ("self.rank = rank\n        self.alpha = alpha",
     "(self.alpha / self.rank) * ((x @ self.A) @ self.B)"),
    ("self.alpha = alpha", "self.alpha * mx.tanh(x)"),
])
def test_mlx103_alpha_over_rank_or_no_low_rank_update_is_clean(keep: str, use: str) -> None:
    assert fired(adapter(keep, use), "MLX103") == []


def test_mlx103_mlx_lm_style_scale_argument_is_clean() -> None:
    code = adapter("self.scale = scale", "self.scale * ((x @ self.A) @ self.B)").replace(
        "rank=8, alpha=16.0", "r=8, scale=20.0").replace("(in_dims, rank)", "(in_dims, r)")
    assert fired(code, "MLX103") == []
