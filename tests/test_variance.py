"""The fix of a VAE that diverged with its KL far past any trained variance
(`judging/variance.py`), on the records of fresh23's `vae_logvar_unclipped` and its twin."""

from __future__ import annotations

import math

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def run(losses: list[float], kl: list[float]) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": i, "t": float(i),
                "loss": loss, "metrics": {"kl_w": 25.0, "kl": k}}
               for i, (loss, k) in enumerate(zip(losses, kl))]
    return RawResult(records=records, exit_code=0, watched=True)


def test_an_explosion_with_a_kl_past_1e12_names_an_unbounded_log_variance():
    losses = [1.2e25, 1.1e25, 1.1e24, 1.1e24] + [8.3e27] * 20
    verdict = classify(run(losses, [3.3e26] * 24))
    assert verdict.label == "diverged:exploding"
    assert verdict.hint.startswith("`kl` reached 1e12") and "mx.clip(logvar" in verdict.hint


def test_a_kl_of_a_hundred_thousand_is_no_unbounded_variance():
    losses = [1.2e3, 1.1e3, 1.0e3, 1.0e3] + [8.3e4] * 20  # an explosion, a KL within reach
    verdict = classify(run(losses, [1.3e5] * 24))
    assert verdict.label == "diverged:exploding" and "logvar" not in verdict.hint


def printed(rows: list[dict[str, float]]) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": i, "t": float(i),
                "loss": row["loss"], "metrics": row} for i, row in enumerate(rows)]
    return RawResult(records=records, exit_code=0, watched=True)


MOLVAE = [(7.886, -1.86), (3.39, -6.13), (1.56, -13.31), (-0.77, -30.32), (-4.55, -73.9),
          (-12.4, -171.6), (-26.0, -359.8), (-46.9, -674.6), (-77.4, -1165.4),
          (-111.1, -1880.4), (-144.0, -2817.8), (-170.1, -3967.5), (-173.9, -5297.8),
          (-149.1, -6647.4)] + [(math.nan, math.nan)] * 46


def test_a_printed_log_variance_far_from_zero_leads_a_nan_fix() -> None:
    """fresh27 molvae_mi_logvar_overflow: mean_logvar -1.86 -> -6647, then NaN."""
    rows = [{"loss": loss, "mean_logvar": lv} for loss, lv in MOLVAE]
    verdict = classify(printed(rows))
    assert verdict.label == "diverged:non_finite"
    assert verdict.hint.startswith("`mean_logvar` reached -6647")


def test_a_log_variance_within_a_few_units_of_zero_adds_nothing() -> None:
    rows = [{"loss": loss, "mean_logvar": max(lv, -9.0) if math.isfinite(lv) else lv}
            for loss, lv in MOLVAE]
    assert "mean_logvar" not in classify(printed(rows)).hint
