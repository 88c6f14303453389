"""Stop 79's changes to the verdict rules, on the numbers of the runs that showed each:
- a second stage whose census trains no weight matrix over a frozen, quantized model, and
  whose loss still fell by half through the norm gains left trainable, is `no_update:
  frozen_weights` when the program's own last count of the parameters it trains is 0
  (`stated_count`; fresh277 `weir_sluice_drafter`: "LoRA params: 0 (0.00%)", 7.66 -> 3.04);
  without that statement it stays a deliberate last stage.

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
