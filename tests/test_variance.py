"""The fix of a VAE that diverged with its KL far past any trained variance
(`judging/variance.py`), on the records of fresh23's `vae_logvar_unclipped` and its twin."""

from __future__ import annotations

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
