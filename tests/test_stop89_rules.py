"""Stop 89's changes to how a run's output is read, on the lines of the runs that showed each:
- a loss name that lines of two kinds (two heads: the words a line starts with) carry at one
  step, an order of magnitude apart, again and again, is several quantities under one name:
  fresh335 `affineur_cave_sampling` (correct) named a task `loss_pct` and printed it on a
  task-probability line and a turn-count line at every report; its turn counts were read as
  a loss that spiked 10x (`diverged:spike`).
- a closing count of trained tokens (samples, examples, ...) at 0 after >= 10 updates is a
  wrong number: fresh335 `quillmere_ballad_lm` (unsloth-zoo ccb86bf) stopped early before
  its first log and printed `Avg loss: 0.0000 | Steps: 40 | Tokens: 0`.
- a non-zero exit with no traceback is explained by the error the program printed as its last
  words, and exit 120 (Python could not flush a stream) names a closed pipe: fresh328
  `quarry_ledger_sft_daemon` (fusion-mlx 619d3e7), a service whose stderr was a closed pipe.
- a concatenate whose operands disagree on an axis not joined names which operands have which
  size there: fresh336 `sluicegate_culvert_gnblock` (mlx-graphs 761b8a1), whose hint spoke of
  padding sequences where two operands were made with the wrong axis's size.
- the words a program's lines start with changing and holding (`[A] step` -> `[B] step`) mark
  a new stage: fresh342 `woodcut_press_relay` (correct) weighted its style term up in stage B,
  its counter running on, and its loss 0.0039 -> 1.04 was read as one curve exploding.
- a KL divergence below 0 at most reports and a nat below it at the end: the objective's sign
  is flipped (fresh341 `stroma_nb_counts_vae`, scvi-tools cf89a13: `-loss` returned).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

import pytest

from mlxprobe.judging import shape_notes
from mlxprobe.judging.program import losses
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult, without_mixed
from mlxprobe.watching.output import ProgressParser

TASKS = ("rind_ph", "mould", "ready", "loss_pct")


def cave_lines() -> list[str]:
    """fresh335 `affineur_cave_sampling`'s report every 200 steps, its numbers as printed
    (probabilities rising, turn counts counting, held-out errors falling)."""
    probs = [0.037, 0.060, 0.081, 0.099, 0.113, 0.126, 0.136, 0.145]
    turns = [1, 11, 29, 52, 69, 88, 121, 149]
    lines = []
    for i, (p, n) in enumerate(zip(probs, turns)):
        step = 200 * (i + 1)
        lines += [f"@ step {step:4d}  T={1 + i * 0.375:.2f}  lr=0.000272  last[mould]=0.7456",
                  "    p(task)  " + "  ".join(f"{t}={v:.3f}" for t, v in zip(
                      TASKS, (0.6 - 0.02 * i, 0.25, 0.1, p))),
                  "    turns    " + "  ".join(f"{t}={v}" for t, v in zip(
                      TASKS, (143 + 90 * i, 44 + 50 * i, 12 + 30 * i, n))),
                  "    val      " + "  ".join(f"{t}={v:.3f}rmse" for t, v in zip(
                      TASKS, (0.84 - 0.06 * i, 0.6, 0.65, 0.99 - 0.06 * i)))]
    return lines


def watched(lines: list[str]) -> RawResult:
    parser, records = ProgressParser(), []
    for at, line in enumerate(lines):
        record = parser.parse(line)
        if record is not None:
            records.append({**record, "t": float(at)})
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_name_on_two_kinds_of_line_an_order_of_magnitude_apart_is_no_loss() -> None:
    raw = watched(cave_lines())
    names = {r.get("loss_name") for r in raw.records if "loss" in r}
    assert names == {"loss_pct"}  # the turn counts and probabilities were read as the loss
    assert losses(raw) == []
    assert classify(raw).kind == "pass"


def test_a_steps_loss_beside_its_epochs_mean_stays_the_loss() -> None:
    """fresh335 `tugboat_horn_signals_interctc_stages`: a step's loss and its epoch's mean at
    one step, 1.0-1.6x apart, are one quantity."""
    lines = []
    for epoch, (loss, mean) in enumerate([(4.123, 6.705), (3.653, 3.752), (3.027, 3.089)]):
        step = 40 * (epoch + 1)
        lines += [f"step {step:4d} [short] loss {loss:.3f} final {loss:.3f}",
                  f"epoch {epoch} [short] step {step} train loss {mean:.3f}  val nll 4.0"]
    raw = watched(lines)
    assert len(losses(raw)) == 6


def test_one_kind_of_line_repeated_at_one_step_is_one_quantity() -> None:
    records = [{"kind": "progress", "step": 3, "loss": v, "head": "batch"}
               for v in (5.0, 0.4, 0.03, 4.0, 0.3, 0.02, 3.0, 0.2, 0.01)]
    assert without_mixed(records) == records


def test_a_new_phases_first_report_is_no_reading_of_the_step_it_is_placed_at() -> None:
    """fresh312 `hotspot_lobe_survey_transfer`: each phase's first loss, 20-200x the last
    phase's last, is placed at that last step (the counter went back)."""
    records = []
    for phase in range(4):
        records += [{"kind": "progress", "step": 100 * phase, "loss": 5.0, "head": f"{phase} step",
                     "restart": phase > 0},
                    {"kind": "progress", "step": 100 * (phase + 1), "loss": 0.01,
                     "head": f"{phase} step"}]
    assert without_mixed(records) == records


def early_stopped(closing: str, updates: int = 40) -> RawResult:
    """fresh335 `quillmere_ballad_lm`: an evaluation every 5 updates, an early stop at 40,
    then the trainer's summary."""
    lines = [f"step {s:4d} | eval_loss {2.6 - 0.03 * s:.4f}" for s in range(5, 41, 5)]
    lines += ["early stopping at step 40 (best eval_loss 1.3694 at step 25)", closing]
    parser, records = ProgressParser(), []
    stdout = "\n".join(lines) + "\n"
    for at in range(1, updates + 1):
        records.append({"kind": "step", "source": "update", "step": at, "t": float(at)})
    for at, line in enumerate(lines):
        record = parser.parse(line)
        if record is not None:
            records.append({**record, "t": 5.0 * (at + 1) + 0.5})
    return RawResult(records=records, exit_code=0, watched=True, stdout_tail=stdout)


@pytest.mark.parametrize("closing, label", [
    ("Training complete! Avg loss: 0.0000 | Total time: 9.9s | Steps: 40 | Tokens: 0",
     "wrong_result:zero_count"),
    ("Training complete! Avg loss: 1.2436 | Total time: 9.6s | Steps: 40 | Tokens: 5120",
     "pass"),
    ("done: steps 40 | loss 1.2436 | skipped_tokens 0", "pass"),  # good news, not a total
    ("done: steps 40 | loss 1.2436 | skipped batches: 0", "pass"),
    ("step 40 loss 1.2436 | pad tokens: 0", "pass"),
    ("final: loss 1.2436, oov tokens 0", "pass"),
    ("train_loss 0.0000 | trained_tokens 0 | steps 40", "wrong_result:zero_count"),
])
def test_a_closing_count_of_trained_tokens_at_zero_after_training_is_wrong(
        closing: str, label: str) -> None:
    assert classify(early_stopped(closing)).label == label


def test_a_count_at_zero_before_the_loop_trained_says_nothing() -> None:
    raw = early_stopped("Training complete! Steps: 4 | Tokens: 0", updates=4)
    assert classify(raw).label == "pass"


@pytest.mark.parametrize("stdout, words", [
    ("Starting training: job=be7a iters=120\njob=be7a status=failed progress={} "
     "error=BrokenPipeError: [Errno 32] Broken pipe\n", "redirect_stderr"),
    ("Starting training\n", "exit status 120"),
])
def test_an_exit_without_traceback_is_explained_by_its_last_words(stdout: str,
                                                                   words: str) -> None:
    raw = RawResult(records=[], exit_code=120, watched=True, stdout_tail=stdout)
    verdict = classify(raw)
    assert verdict.label == "crash:exit_120" and words in verdict.hint


JOIN = ("[concatenate] All the input array dimensions must match exactly except for the "
        "concatenation axis. However, the provided shapes are {shapes}, and the concatenation "
        "axis is {axis}.")


@pytest.mark.parametrize("shapes, axis, said", [
    ("(4,2), (4,2), (2,1), (2,2)", 1, "axis 0, not the one joined (1): operands 1 and 2: 4, "
                                      "operands 3 and 4: 2"),
    ("(8,12), (8,15)", 0, "axis 1, not the one joined (0): operand 1: 12, operand 2: 15"),
    ("(8,12), (6,12)", 0, ""),  # they differ on the axis joined only: nothing to say
])
def test_a_concatenate_names_the_operands_that_disagree(shapes: str, axis: int,
                                                        said: str) -> None:
    note = shape_notes.note(JOIN.format(shapes=shapes, axis=axis))
    assert (said in note) if said else note == ""


def with_kl(values: list[float], name: str = "val_kl") -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 10 * (i + 1), "t": float(i),
                "loss": 50.0 - 10 * i, "metrics": {name: v}} for i, v in enumerate(values)]
    return RawResult(records=records, exit_code=0, watched=True)


@pytest.mark.parametrize("values, name, label", [
    ([-0.02, -5.2, -15.8, -29.5, -150.3, -198.0, -702.4, -5638.0], "val_kl",
     "wrong_result:negative_kl"),  # fresh341's, as printed
    ([0.4, -0.01, 0.02, -0.03, 0.01, -0.02, 0.01, -0.01], "kl", "pass"),  # ~0, by noise
    ([-0.002, -0.004, -0.003, -0.006, -0.005, -0.004], "kl", "pass"),  # never a nat below
    ([-0.5, -1.2, -2.5, -3.1, -4.0, -5.0], "approx_kl", "pass"),  # PPO's one-sample k1
])
def test_a_kl_divergence_below_zero_report_after_report_is_wrong(
        values: list[float], name: str, label: str) -> None:
    assert classify(with_kl(values, name)).label == label


WOODCUT = [("A", 0, 0.0068), ("A", 20, 0.0043), ("A", 40, 0.0048), ("A", 60, 0.0043),
           ("A", 79, 0.0039), ("B", 80, 1.0377), ("B", 110, 0.6539), ("B", 140, 0.5854),
           ("B", 170, 0.4839), ("B", 200, 0.6446), ("B", 230, 0.4788), ("B", 260, 0.4603),
           ("B", 290, 0.3747), ("B", 319, 0.4071)]


def test_a_stage_tag_that_changes_and_holds_starts_a_new_curve() -> None:
    """fresh342 `woodcut_press_relay`'s lines as printed (content and style terms left out)."""
    lines = [f"[{tag}] step {step:4d} loss {loss:.4f}" for tag, step, loss in WOODCUT]
    assert classify(watched(lines)).label == "pass"
    one_tag = [line.replace("[B]", "[A]") for line in lines]  # no stage the lines show
    assert classify(watched(one_tag)).label == "diverged:exploding"
