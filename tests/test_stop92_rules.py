"""Stop 92's verdict changes, each on the shape of the run it was measured on.

- a held-out loss whose printed perplexity is exp of it is a cross-entropy, and bounds the
  error share of its split's accuracy (fresh351 `ledger_quay_span`: an evaluation that summed
  batch means and divided by the example count, val_loss 0.017 = ln val_ppl 1.017 beside a
  val_em of 0.426).
"""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

TRAIN = (2.255, 1.729, 1.077, 0.821, 0.628, 0.573, 0.509, 0.5)


def span_run(val_loss: tuple[float, float], val_ppl: tuple[float, float],
             em: tuple[float, float]) -> RawResult:
    records: list[dict] = [{"kind": "start", "t": 0.0, "source": "bootstrap"}]
    records += [{"kind": "progress", "source": "output", "step": 25 * (i + 1), "loss": v,
                 "t": 1.0 + i, "metrics": {"train_ppl": 2.718 ** v}}
                for i, v in enumerate(TRAIN)]
    records += [{"kind": "progress", "source": "output", "step": s, "t": 4.5 + 4 * i,
                 "metrics": {"val_loss": val_loss[i], "val_ppl": val_ppl[i], "val_em": em[i]}}
                for i, s in enumerate((100, 200))]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_perplexity_proven_loss_bounds_the_accuracy_of_its_split() -> None:
    verdict = classify(span_run((0.023, 0.017), (1.023, 1.017), (0.379, 0.426)))
    assert verdict.label == "wrong_result:contradicted", verdict.reason
    assert verdict.evidence["accuracy"] == "val_em" and verdict.evidence["span"] == 10
    assert "reduction" in verdict.hint and "forwarded" in verdict.hint


def test_a_loss_that_allows_the_errors_is_not_contradicted() -> None:
    verdict = classify(span_run((0.727, 0.548), (2.07, 1.731), (0.379, 0.426)))
    assert verdict.kind != "wrong_result", verdict.reason


def test_a_loss_whose_printed_perplexity_is_not_its_exp_proves_nothing() -> None:
    verdict = classify(span_run((0.023, 0.017), (1.5, 1.4), (0.379, 0.426)))
    assert verdict.label != "wrong_result:contradicted", verdict.reason
