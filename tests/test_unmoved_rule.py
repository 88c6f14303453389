"""`not_learning.unmoved`: a loss inside 0.1% of one level at every one of its reports, printed
precisely, with no trend and no other measure improving (fresh55 `kd_klformula_sum_first`: a
distillation loss minimised by a uniform student). Checked on that shape and on the correct
shapes near it: a slow steady fall, a coarse print, a run that learned before its first
report, an accuracy that rose, too few reports."""

from __future__ import annotations

from mlxprobe.judging.unmoved import unmoved
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

KD = [-32.0638, -32.0705, -32.0763, -32.0726, -32.0607, -32.0637, -32.0673, -32.0728]


def run(losses: list[float], **others: list[float]) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": i + 1, "t": float(i),
                "loss": v, "loss_name": "kd_loss",
                "metrics": {k: vs[i] for k, vs in others.items()}}
               for i, v in enumerate(losses)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_loss_that_never_leaves_its_level_is_not_learning_unmoved():
    verdict = classify(run(KD, val_acc=[0.124, 0.137, 0.128, 0.136, 0.129, 0.125, 0.131,
                                        0.134]))
    assert verdict.label == "not_learning:unmoved", verdict
    assert verdict.evidence["reports"] == 8 and verdict.evidence["band"] < 0.001
    assert "kd_loss" in verdict.reason and "KL" in verdict.hint


def test_a_slow_steady_fall_inside_the_band_is_a_trend_not_noise():
    slow = [2.34567 - 0.0003 * i for i in range(8)]  # -0.09% over the run, every report
    assert unmoved(slow) is None


def test_a_coarse_print_or_too_few_reports_is_not_judged():
    assert unmoved([0.0273] * 12) is None  # 3 digits: a fall of 0.2% would not show
    assert unmoved(KD[:5]) is None


def test_a_loss_that_moves_by_more_than_the_band_is_not_judged():
    assert unmoved([v * (1 + 0.003 * (i % 2)) for i, v in enumerate(KD)]) is None


def test_an_accuracy_that_rose_or_another_loss_that_fell_stands_it_down():
    rose = run(KD, val_acc=[0.2, 0.5, 0.7, 0.8, 0.85, 0.86, 0.87, 0.88])
    assert classify(rose).kind == "pass"
    fell = run(KD, val_loss=[2.0, 1.5, 1.1, 0.9, 0.7, 0.6, 0.55, 0.5])
    assert classify(fell).kind == "pass"
