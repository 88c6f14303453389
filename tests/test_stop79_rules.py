"""Stop 79's changes to the verdict rules, on the numbers of the runs that showed each:
- a second stage whose census trains no weight matrix over a frozen, quantized model, and
  whose loss still fell by half through the norm gains left trainable, is `no_update:
  frozen_weights` when the program's own last count of the parameters it trains is 0
  (`stated_count`; fresh277 `weir_sluice_drafter`: "LoRA params: 0 (0.00%)", 7.66 -> 3.04);
  without that statement it stays a deliberate last stage.
- a loss that rose because terms joined it is no explosion: where the total is the sum of
  printed terms at its last reports and each term ended at or below its first report
  (`composed`; fresh281 `hollowreed_mel_vocoder`: L1, then L1 + SC + logmag from step 110, the
  total 0.150 -> 3.71 -> 1.85 while every term fell).

Cost: < 1 s (records in memory, no process).
"""

from __future__ import annotations

from mlxprobe.judging import stated_count
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

PRETRAINED = {"model": "DraftLM", "trainable_matrices": 16, "trainable_values": 24928,
              "frozen_matrices": 0, "frozen_quantized": 0,
              "trainable_dtypes": {"float32": 24928}, "hidden": {},
              "adapters": {"count": 0, "trainable": 0, "frozen_names": []}}
QUANTIZED = {**PRETRAINED, "trainable_matrices": 0, "trainable_values": 352,
             "frozen_matrices": 48, "frozen_quantized": 16,
             "trainable_dtypes": {"float32": 352}}


def staged(said: str = "") -> RawResult:
    """A pretraining census, then the second stage's (after its first update), and that
    stage's loss falling 7.66 -> 3.04 over 40 reports."""
    looks = [{"kind": "params", "updates": 1, "look": 1, "t": 0.0, "census": [PRETRAINED]},
             {"kind": "params", "updates": 151, "look": 9, "t": 0.5, "census": [QUANTIZED]}]
    losses = [7.66 - 4.62 * min(i, 30) / 30 for i in range(40)]
    reports = [{"kind": "progress", "source": "output", "step": i + 1, "t": 1 + 0.1 * i,
                "loss": v} for i, v in enumerate(losses)]
    tail = f"draft model quantized to 4 bits\n{said}\nEpoch 1/4, Step 0/128, Loss: 7.66\n"
    return RawResult(records=looks + reports, exit_code=0, watched=True, stdout_tail=tail)


def test_a_stated_zero_count_of_trained_parameters_overrides_the_deliberate_stage() -> None:
    verdict = classify(staged("LoRA applied. Original params: 26.5K, LoRA params: 0 (0.00%)"))
    assert verdict.label == "no_update:frozen_weights"
    assert "LoRA params: 0" in verdict.reason and "16 of them quantized" in verdict.reason
    assert "QuantizedLinear" in verdict.hint and "isinstance(m, nn.Linear)" in verdict.hint


def test_the_same_stage_without_the_statement_is_a_deliberate_last_stage() -> None:
    assert classify(staged()).kind != "no_update"
    assert classify(staged("LoRA params: 2048 (7.74%)")).kind != "no_update"


def test_the_last_count_wins_and_other_zero_words_are_no_count() -> None:
    said = "Trainable parameters: 0\nmerged\nTrainable parameters: 0.120% (0.005M/4.1M)"
    assert stated_count.zero_line(staged(said)) is None
    assert stated_count.zero_line(staged("trainable after freeze: 0 values")) is None
    assert stated_count.zero_line(staged("zero-grad trainable tensors: 0")) is None
    assert stated_count.zero_line(staged("Trainable parameters: 0.000% (0.000M/1.2M)")) \
        == "Trainable parameters: 0.000% (0.000M/1.2M)"


VOCODER = [  # (loss, l1, sc, logmag) of fresh281 `hollowreed_mel_vocoder`'s reports
    (0.4256, 0.4256, 2.178, 3.432), (0.1537, 0.1537, 0.963, 1.913), (0.1501, 0.1501, 0.961, 1.882),
    (3.7103, 0.2155, 1.052, 2.443), (2.4645, 0.1795, 0.804, 1.481), (1.9842, 0.1809, 0.73, 1.073),
    (1.9893, 0.1732, 0.794, 1.022), (1.7589, 0.1797, 0.69, 0.89), (1.8386, 0.1816, 0.743, 0.914),
    (1.8481, 0.1624, 0.758, 0.928)]


def vocoder(rows: list[tuple[float, ...]]) -> RawResult:
    reports = [{"kind": "progress", "source": "output", "step": 40 * i, "t": 0.5 * i,
                "loss": loss, "metrics": {"learning_rate": 1e-3, "l1": l1, "sc": sc,
                                          "logmag": logmag, "g": 1.0}}
               for i, (loss, l1, sc, logmag) in enumerate(rows)]
    return RawResult(records=reports, exit_code=0, watched=True)


def test_a_total_whose_printed_parts_all_fell_is_no_explosion() -> None:
    assert classify(vocoder(VOCODER)).label == "pass"


def test_a_total_whose_printed_part_rose_is_still_an_explosion() -> None:
    blown = [(loss + 3 * i, l1, sc, logmag + 3 * i)
             for i, (loss, l1, sc, logmag) in enumerate(VOCODER)]
    assert classify(vocoder(blown)).label == "diverged:exploding"


def test_a_total_no_printed_sum_matches_is_still_an_explosion() -> None:
    unmatched = [(loss * 1.5 if i > 2 else loss, l1, sc, logmag)
                 for i, (loss, l1, sc, logmag) in enumerate(VOCODER)]
    assert classify(vocoder(unmatched)).label == "diverged:exploding"
