"""Stop 92's verdict changes, each on the shape of the run it was measured on.

- a held-out loss whose printed perplexity is exp of it is a cross-entropy, and bounds the
  error share of its split's accuracy (fresh351 `ledger_quay_span`: an evaluation that summed
  batch means and divided by the example count, val_loss 0.017 = ln val_ppl 1.017 beside a
  val_em of 0.426);
- a loss that rose only across stages announced on lines of their own (a setting stepped to
  new values, no loss) and ended below its first report is no explosion (fresh356
  `rootstock_latin_unmask`, correct: a hidden-ratio curriculum 0.5 -> 0.8 -> 1.0);
- an accuracy-named value below 0 is no share of right answers, so it is not "at zero"
  beside a falling loss (fresh358 `quilt_motif_attractor_resume`, correct: `E_recall`, a
  Hopfield energy, -63.3 -> -80.7);
- parameters non-finite at the first update of an optimizer the program defines lead the
  hint with that optimizer's first step (fresh359 `quillpond_lattice_reasoner`: an AdamATan2
  whose step count was never incremented, a bias correction of 0);
- an accuracy that began at the chance accuracy the output states and sat above 1.3x it at
  its last three reports is no guessing (fresh360 `sluicegate_ledger_recursion`, correct:
  chance 0.250, val acc 0.252 -> 0.414 while its loss sat above -ln of the median).
"""

from __future__ import annotations

from mlxprobe.judging import first_update
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


STAIRS = ((1.4592, 0.4676, 0.2616, 0.2580), (0.6846, 0.6911, 0.6702),
          (0.9688, 0.9747, 0.9924, 1.038, 0.9914))


def staircase(setting: str = "to", stairs: tuple = STAIRS) -> RawResult:
    records: list[dict] = [{"kind": "start", "t": 0.0, "source": "bootstrap"}]
    t, step = 1.0, 0
    for stage, losses in enumerate(stairs):
        records.append({"kind": "progress", "source": "output", "step": step, "t": t,
                        "metrics": {setting: (0.5, 0.8, 1.0)[stage]}})
        for loss in losses:
            t, step = t + 1.0, step + 100
            records.append({"kind": "progress", "source": "output", "step": step, "t": t,
                            "loss": loss, "head": "step"})
        t += 1.0
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_loss_that_rose_across_announced_stages_is_no_explosion() -> None:
    verdict = classify(staircase())
    assert verdict.kind != "diverged", verdict.reason


def test_a_learning_rate_stepped_on_its_own_lines_is_no_stage() -> None:
    verdict = classify(staircase(setting="lr"))
    assert verdict.label == "diverged:exploding", verdict.reason


def test_a_staircase_that_climbs_past_its_start_still_explodes() -> None:
    stairs = (STAIRS[0], (0.9, 1.1, 1.2), (1.9, 2.0, 2.1, 2.2, 2.3))
    verdict = classify(staircase(stairs=stairs))
    assert verdict.label == "diverged:exploding", verdict.reason


def energy_run(values: list[float]) -> RawResult:
    records: list[dict] = [{"kind": "start", "t": 0.0, "source": "bootstrap"}]
    records += [{"kind": "progress", "source": "output", "step": 50 * (i + 1), "t": 1.0 + i,
                 "loss": 0.46 * 0.88 ** i, "metrics": {"e_recall": v}}
                for i, v in enumerate(values)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_an_accuracy_named_energy_below_zero_is_not_at_zero() -> None:
    energies = [-63.3, -73.9, -76.2, -76.8, -76.4, -80.2, -81.1, -80.7, -80.5, -80.7, -80.7]
    assert classify(energy_run(energies)).label != "not_learning:opposed"
    assert classify(energy_run([0.006] + [0.0] * 10)).label == "not_learning:opposed"


def nan_at_first_update(optimizer: str) -> RawResult:
    records: list[dict] = [{"kind": "start", "t": 0.0, "source": "bootstrap"},
                           {"kind": "progress", "source": "output", "step": 1, "t": 0.1,
                            "loss": 3.4604},
                           {"kind": "optimizer", "name": optimizer, "t": 0.2}]
    records += [{"kind": "step", "source": "update", "step": s, "t": 0.2 + s / 100,
                 "step_s": 0.01} for s in range(2, 60)]
    records += [{"kind": "params", "step": s, "updates": s - 1, "look": i + 1, "leaves": 25,
                 "compared": 20 if i else 0, "changed": 0, "unchanged": [],
                 "nonfinite": ["puzzle"] if not i else ["head", "puzzle"], "t": 0.25 + s / 100}
                for i, s in enumerate((2, 13, 25))]
    records += [{"kind": "progress", "source": "output", "step": s, "t": 0.3 + s / 100,
                 "loss": "nan", "metrics": {"loss": "nan"}} for s in range(2, 60, 4)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_nan_at_a_hand_written_optimizers_first_update_names_its_first_step() -> None:
    verdict = classify(nan_at_first_update("AdamATan2"))
    assert verdict.kind == "diverged", verdict.reason
    assert verdict.hint.startswith("the parameters held NaN/inf right after the first update "
                                   "of `AdamATan2`"), verdict.hint
    assert "state[\"step\"] += 1" in verdict.hint


def test_nan_at_an_mlx_optimizers_first_update_keeps_the_generic_hint() -> None:
    verdict = classify(nan_at_first_update("AdamW"))
    assert verdict.kind == "diverged" and "AdamW" not in verdict.hint, verdict.hint


def test_the_known_optimizer_names_are_mlxs() -> None:
    import mlx.optimizers as optim

    mine = {n for n, c in vars(optim).items()
            if isinstance(c, type) and issubclass(c, optim.Optimizer)}
    assert mine == set(first_update.MLX_OPTIMIZERS)


CHANCE_OUT = "baselines: chance token acc 0.250 | copy-input token acc 0.347\n"


def short_classifier(accs: list[float], ce: tuple[float, ...] = (
        1.5442, 1.3986, 1.3844, 1.2030, 1.1439, 1.0877, 1.0792)) -> RawResult:
    records: list[dict] = [{"kind": "start", "t": 0.0, "source": "bootstrap"}]
    records += [{"kind": "progress", "source": "output", "step": 1 + 20 * i, "t": 1.0 + i,
                 "loss": c, "metrics": {"val_acc": a}} for i, (c, a) in enumerate(zip(ce, accs))]
    return RawResult(records=records, exit_code=0, watched=True, stdout_tail=CHANCE_OUT)


def test_an_accuracy_that_rose_from_the_stated_chance_is_no_guessing() -> None:
    rose = short_classifier([0.252, 0.257, 0.284, 0.362, 0.380, 0.408, 0.414])
    assert classify(rose).label != "not_learning:chance", classify(rose).reason
    flat = (1.5442, 1.3986, 1.3874, 1.3871, 1.3869, 1.3866, 1.3868)
    stayed = short_classifier([0.252, 0.257, 0.264, 0.262, 0.250, 0.258, 0.254], flat)
    assert classify(stayed).label == "not_learning:chance", classify(stayed).reason
