"""Stop 70's changes to the verdict rules, on the numbers of the runs that showed each:
- `no_update:part` counts a group that changed only by one common shrink (weight decay with a
  zero gradient) at every look as never changed (fresh238 `quarry_hoist_blocklm`: decoder
  blocks under `mx.checkpoint(layer)`, AdamW's decay alone moving them);
- a loss that rose while a printed coefficient ramped and fell at each report after it held
  is no blow-up and no flat loss (fresh238 `seismovault_pgd_ramp`: adversarial training whose
  attack radius grew 0.057 -> 0.35).

Cost: < 0.5 s (no MLX, no process).
"""

from __future__ import annotations

from mlxprobe.judging import program
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

DECODER = ["layers.0.attn", "layers.0.mlp", "layers.1.attn", "layers.1.mlp"]


def look(step: int, shrunk: list[str], unchanged: list[str]) -> dict:
    return {"kind": "params", "step": step, "updates": step, "look": step, "leaves": 8,
            "compared": 6, "changed": 6 - len(unchanged), "unchanged": unchanged,
            "unchanged_count": len(unchanged), "nonfinite": [], "moved": 2, "shrunk": shrunk}


def blocks(shrunk_at: list[list[str]]) -> RawResult:
    records = [{"kind": "step", "source": "update", "step": i, "t": float(i)}
               for i in range(1, 41)]
    records += [look(s, shrunk, []) for s, shrunk in zip((5, 15, 25, 35), shrunk_at)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_groups_moved_only_by_weight_decay_at_every_look_are_a_part_that_never_trains() -> None:
    v = classify(blocks([DECODER] * 4))
    assert v.label == "no_update:part"
    assert v.evidence["never_changed"] == DECODER and v.evidence["decay_only"] == DECODER
    assert "weight decay with a zero gradient" in v.reason


def test_a_group_a_gradient_moved_at_one_look_is_no_part() -> None:
    shrunk_at = [DECODER, DECODER, DECODER[:2], DECODER]
    v = classify(blocks(shrunk_at))
    assert v.label == "no_update:part" and v.evidence["never_changed"] == DECODER[:2]
    assert classify(blocks([DECODER, [], DECODER, DECODER])).label != "no_update:part"


# fresh238 `seismovault_pgd_ramp` as read: the attack radius eps ramps from 0.057 to 0.35
# over six epochs, then holds; the loss on attacked inputs rises with it, then falls
EPS = [0.057, 0.116, 0.174, 0.232, 0.291, 0.349, 0.35, 0.35, 0.35, 0.35, 0.35]
LOSS = [0.2216, 0.1708, 0.243, 0.314, 0.4078, 0.5073, 0.5582, 0.5556, 0.5536, 0.5513, 0.5498]


def ramped(losses: list[float]) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 62 * (i + 1), "t": float(i),
                "loss": loss, "metrics": {"eps": eps, "clean acc": 0.96}}
               for i, (loss, eps) in enumerate(zip(losses, EPS))]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_loss_that_rose_with_its_ramped_coefficient_and_fell_after_it_held_passes() -> None:
    v = classify(ramped(LOSS))
    assert v.kind == "pass" and "after `eps` held" in v.reason


def test_the_same_rise_still_climbing_after_the_hold_is_a_blow_up() -> None:
    climbing = LOSS[:7] + [0.5582, 0.5556, 0.5613, 0.5598]
    assert classify(ramped(climbing)).label == "diverged:exploding"


def test_falling_at_each_value_is_significant_from_four_values() -> None:
    assert program.fell_at_each([4.0, 3.0, 2.0, 1.0])
    assert not program.fell_at_each([3.0, 2.0, 1.0])  # 1/3! = 0.17: noise does that
    assert not program.fell_at_each([4.0, 3.0, 3.0, 1.0])


# fresh240 `bowing_etude_s2s` as read: a seq2seq decoder without its causal mask; the
# teacher-forced validation loss falls to 0.0004 while greedy generation scores 30.6% a note
VAL = [1.7092, 0.0242, 0.0014, 0.0008, 0.0006, 0.0005, 0.0004]


def generated(accuracy: float, val: list[float]) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 50 * i, "t": float(i),
                "loss": v * 0.99, "metrics": {"val_loss": v}} for i, v in enumerate(val)]
    records.append({"kind": "progress", "source": "output", "step": 300, "t": 9.0,
                    "metrics": {"accuracy": accuracy}})
    return RawResult(records=records, exit_code=0, watched=True)


def test_an_accuracy_far_below_what_the_held_out_loss_allows_is_a_wrong_result() -> None:
    v = classify(generated(30.6, VAL))
    assert v.label == "wrong_result:contradicted"
    assert "causal" in v.hint and v.evidence["accuracy_last"] == 0.306


def test_a_held_out_loss_that_allows_errors_or_an_accuracy_that_agrees_passes() -> None:
    assert classify(generated(100.0, VAL)).kind == "pass"  # its fixed twin's
    assert classify(generated(30.6, [v + 0.3 for v in VAL])).label != \
        "wrong_result:contradicted"  # a loss of 0.3 allows 43% errors
