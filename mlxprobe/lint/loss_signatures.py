"""The positional parameters of `mlx.nn.losses`' functions in mlx 0.32.4, as data, and which
of them take a bool.

Job: data (and one lookup over it), for MLX165 (a bool literal given by position to a loss
lands in a parameter that is no flag), and for the rules that read a loss call's reduction
(MLX018 and MLX090 a "none" default, MLX164 a "mean" one: `reduction_index`). Regenerate
from `inspect.signature` of each loss when mlx is upgraded; tests/test_lint_round57.py
checks it against the installed mlx.

Must not import: mlx, anything of mlxprobe.
"""

from __future__ import annotations

PARAMETERS: dict[str, tuple[str, ...]] = {
    "binary_cross_entropy": ("inputs", "targets", "weights", "with_logits", "reduction"),
    "cosine_similarity_loss": ("x1", "x2", "axis", "eps", "reduction"),
    "cross_entropy": ("logits", "targets", "weights", "axis", "label_smoothing", "reduction"),
    "gaussian_nll_loss": ("inputs", "targets", "vars", "full", "eps", "reduction"),
    "hinge_loss": ("inputs", "targets", "reduction"),
    "huber_loss": ("inputs", "targets", "delta", "reduction"),
    "kl_div_loss": ("inputs", "targets", "axis", "reduction"),
    "l1_loss": ("predictions", "targets", "reduction"),
    "log_cosh_loss": ("inputs", "targets", "reduction"),
    "margin_ranking_loss": ("inputs1", "inputs2", "targets", "margin", "reduction"),
    "mse_loss": ("predictions", "targets", "reduction"),
    "nll_loss": ("inputs", "targets", "axis", "reduction"),
    "smooth_l1_loss": ("predictions", "targets", "beta", "reduction"),
    "triplet_loss": ("anchors", "positives", "negatives", "axis", "p", "margin", "eps",
                     "reduction"),
}
FLAGS = frozenset({("binary_cross_entropy", "with_logits"), ("gaussian_nll_loss", "full")})
# the losses whose `reduction` defaults to "mean"; every other one's default is "none"
MEAN_BY_DEFAULT = frozenset({"binary_cross_entropy", "gaussian_nll_loss", "l1_loss",
                             "mse_loss", "smooth_l1_loss"})


def reduction_index(default: str) -> dict[str, int]:
    """`mlx.nn.losses.<name>` -> the position of `reduction`, for the losses whose
    `reduction` defaults to `default` ("none" or "mean")."""
    return {f"mlx.nn.losses.{name}": params.index("reduction")
            for name, params in PARAMETERS.items()
            if (name in MEAN_BY_DEFAULT) == (default == "mean")}
