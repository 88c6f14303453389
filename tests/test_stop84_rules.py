"""Stop 84's changes to the verdict rules, on the texts of the runs that showed each:
- a final table of results under a loss-like name, all its rows at one step, is no point of
  the loss curve (fresh304 `rockpool_branch_finetune`, correct: three branches' `rmse`
  printed after training, read as the `huber` loss rising 0.20 -> 4.28, `diverged:
  exploding`);
- a restarted run's last phase whose loss fell is not at chance for want of a fall over the
  whole run (fresh304 `shearing_shed_seed_study`, correct: a permuted-label control after
  four seeds, `not_learning:chance` with the loss "fell -64.2% over the run").

Cost: < 1 s (texts in memory, no process).
"""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult
from mlxprobe.watching.output import ProgressParser

BRANCHES = """[base] step  250  huber 0.0244  val_rmse   4.64 %cover
[base] step  500  huber 0.0183  val_rmse   4.50 %cover
[base] step  750  huber 0.0141  val_rmse   4.40 %cover
[base] step 1000  huber 0.0120  val_rmse   4.34 %cover
[base] step 1250  huber 0.0133  val_rmse   4.29 %cover
[base] step 1500  huber 0.0162  val_rmse   4.31 %cover
--- branch still  lr=0.0: reloaded, max |w - base| = 0.0e+00
[still  lr=0.0] step  150  huber 0.1529  val_rmse  15.97 %cover
[still  lr=0.0] step  300  huber 0.2034  val_rmse  15.97 %cover
[still  lr=0.0] step  450  huber 0.2041  val_rmse  15.97 %cover
[still  lr=0.0] step  600  huber 0.2485  val_rmse  15.97 %cover
--- branch gentle lr=3e-4: reloaded, max |w - base| = 0.0e+00
[gentle lr=3e-4] step  150  huber 0.0134  val_rmse   4.59 %cover
[gentle lr=3e-4] step  300  huber 0.0183  val_rmse   4.43 %cover
[gentle lr=3e-4] step  450  huber 0.0103  val_rmse   4.30 %cover
[gentle lr=3e-4] step  600  huber 0.0155  val_rmse   4.28 %cover
--- branch brisk  lr=1e-3 wd: reloaded, max |w - base| = 0.0e+00
[brisk  lr=1e-3 wd] step  150  huber 0.0132  val_rmse   4.36 %cover
[brisk  lr=1e-3 wd] step  300  huber 0.0166  val_rmse   4.32 %cover
[brisk  lr=1e-3 wd] step  450  huber 0.0102  val_rmse   4.28 %cover
[brisk  lr=1e-3 wd] step  600  huber 0.0143  val_rmse   4.28 %cover

=== this-season validation ===
mean-cover baseline    rmse  28.04
still  lr=0.0          rmse  15.97   max weight change 0.000
gentle lr=3e-4         rmse   4.28   max weight change 0.142
brisk  lr=1e-3 wd      rmse   4.28   max weight change 0.258"""


def parsed(text: str) -> RawResult:
    parser = ProgressParser()
    reports = [{**found, "t": 1.0 + i} for i, line in enumerate(text.splitlines())
               if (found := parser.parse(line))]
    return RawResult(records=reports, exit_code=0, watched=True, stdout_tail=text)


def test_a_final_table_at_one_step_is_no_point_of_the_loss() -> None:
    run = parsed(BRANCHES)
    assert {r.get("loss_name") for r in run.learning} == {"huber"}
    assert classify(run).label == "pass"


def test_a_second_name_over_several_steps_is_a_curve_of_its_own() -> None:
    """Three reports of another name at three steps stay points of the loss."""
    curve = "\n".join(f"step {1600 + 50 * i}  rmse {v}" for i, v in enumerate((15.9, 9.1, 4.3)))
    run = parsed(BRANCHES.split("\n\n")[0] + "\n" + curve)
    assert sum(r.get("loss_name") == "rmse" for r in run.learning) == 3


SEED = """[grades  seed={seed}] step   1  lr 0.00e+00  train_ce 1.4028  val_ce 1.3863  val_acc 0.315
[grades  seed={seed}] step  60  lr 1.98e-03  train_ce 0.7948  val_ce 0.6180  val_acc 0.720
[grades  seed={seed}] step 120  lr 1.72e-03  train_ce 0.5193  val_ce 0.5849  val_acc 0.734
[grades  seed={seed}] step 180  lr 1.22e-03  train_ce 0.4878  val_ce 0.5603  val_acc 0.750
[grades  seed={seed}] step 240  lr 6.42e-04  train_ce 0.4859  val_ce 0.5727  val_acc 0.751
[grades  seed={seed}] step 300  lr 1.89e-04  train_ce 0.4705  val_ce 0.5677  val_acc 0.756
[grades  seed={seed}] step 360  lr 1.02e-05  train_ce 0.4719  val_ce 0.5661  val_acc 0.749
  -> seed {seed} final val_acc 0.749"""
CONTROL = ("[{tag} seed=99] step {step:3d}  lr 1.00e-03  train_ce {ce}  val_ce 1.4300  "
           "val_acc {acc}")
STEPS = (1, 60, 120, 180, 240, 300, 360)
ACCS = ("0.229", "0.311", "0.257", "0.253", "0.246", "0.223", "0.227")


def seed_study(control: tuple[str, ...], tag: str = "permuted") -> RawResult:
    """Four seeds that learn, then a fifth run under `tag` (the permuted-label control of
    fresh304, or, tagged as the seeds are, a last seed)."""
    seeds = [SEED.format(seed=s) for s in (11, 23, 37, 41)]
    rows = [CONTROL.format(tag=tag, step=s, ce=c, acc=a) for s, c, a in zip(STEPS, control, ACCS)]
    return parsed("\n".join([*seeds, *rows]))


def test_a_control_run_whose_loss_fell_after_seeds_that_learned_is_not_at_chance() -> None:
    """fresh304 `shearing_shed_seed_study`: its train_ce fell 1.393 -> 1.292 (7.3%)."""
    fell = ("1.3933", "1.3527", "1.3615", "1.3303", "1.3156", "1.3049", "1.2919")
    assert classify(seed_study(fell, tag="grades")).label == "pass"


FLAT = ("1.3933", "1.3891", "1.3912", "1.3884", "1.3903", "1.3890", "1.3899")


def test_a_last_run_whose_loss_never_fell_is_at_chance() -> None:
    assert classify(seed_study(FLAT, tag="grades")).label == "not_learning:chance"


def test_a_permuted_label_control_that_never_learns_is_a_reference() -> None:
    """Stop 98: a line that starts with `permuted` (here after its tag's bracket) reports a
    label-permutation control, meant not to learn: the seeds before it are judged."""
    assert classify(seed_study(FLAT)).label == "pass"


def test_a_negative_return_is_no_accuracy_at_chance() -> None:
    """fresh305 `mashtun_steam_ddpg` (correct): a DDPG controller's episode return -95.7 ->
    -13.7 beside its actor loss, read as an accuracy at chance against exp(-actor_loss)."""
    lines = [f"ep {e:3d}  return {r:8.2f}  critic_mse {c:.4f}  actor_loss {a:8.3f}"
             for e, r, c, a in zip(range(10, 50, 5), (-89.84, -23.66, -21.57, -15.60, -13.98,
                                                      -13.98, -12.64, -13.73),
                                   (0.4638, 0.8382, 0.7617, 0.8571, 0.5175, 0.4030, 0.3478,
                                    0.2380),
                                   (1.844, 3.695, 3.726, 3.483, 3.658, 3.508, 3.438, 3.296))]
    assert classify(parsed("\n".join(lines))).label == "pass"


CSV = """step,lr,pre_q_ce,post_q_ce,unseen_acc_pct
1,0.00e+00,1.108,0.995,nan
40,6.33e-04,1.106,0.970,nan
80,9.93e-04,1.262,0.502,96.3
120,9.31e-04,1.558,0.257,nan
160,8.11e-04,1.581,0.198,96.6
200,6.49e-04,1.678,0.188,nan
240,4.68e-04,1.443,0.199,96.8
280,2.93e-04,1.665,0.228,nan
320,1.45e-04,1.744,0.174,97.7
360,4.68e-05,1.696,0.162,nan
400,1.01e-05,1.785,0.174,{last}"""


def test_a_column_written_nan_where_it_was_not_measured_is_no_divergence() -> None:
    """fresh306 `beachcomb_shell_fomaml` (correct): `nan` at every other report, where the
    unseen-task accuracy was not measured, 96.3% -> 97.5% at the others."""
    assert classify(parsed(CSV.format(last="97.5"))).label == "pass"


def test_a_metric_non_finite_at_its_last_report_is_still_judged() -> None:
    assert classify(parsed(CSV.format(last="nan"))).label == "diverged:non_finite_metric"


STRIDES = """uniform-guess loss 3.178
Iter 50: train loss 1.460, val loss 1.196, val acc 34.4%, 29.0s
Iter 100: train loss 1.167, val loss 1.172, val acc 33.7%, 29.8s
Iter 150: train loss 1.168, val loss 1.167, val acc 32.6%, 30.4s
Iter 200: train loss 1.138, val loss 1.117, val acc 33.3%, 31.1s
Iter 250: train loss 1.142, val loss 1.142, val acc 34.6%, 31.9s
Iter 300: train loss 1.152, val loss 1.115, val acc 35.4%, 32.7s
Iter 350: train loss 1.131, val loss 1.132, val acc 34.1%, 33.4s
Iter 400: train loss 1.136, val loss 1.114, val acc 35.8%, 34.2s"""


def test_a_loss_far_below_the_uniform_guess_the_program_states_is_not_chance() -> None:
    """fresh305 `ferrule_cask_moe_ok` (correct): over 24 tokens, a model that sees one
    position at a time narrowed each next token to its three possible strides."""
    assert classify(parsed(STRIDES)).label == "pass"
    unstated = STRIDES.split("\n", 1)[1]
    assert classify(parsed(unstated)).label == "not_learning:chance"


ZEROED = ("untrained test acc  30.7%  (chance 20.0%)\n" + "\n".join(
    f"epoch {e:2d}  sup_ce {ce:.4f}  cons_ce 0.0050  test acc  {acc:4.1f}%"
    for e, ce, acc in zip(range(1, 21), (1.0608, 0.8845, 1.3808, 1.4560, 1.6202, 1.6129,
                                         1.6110, 1.6100, 1.6098, *[1.6095] * 6,
                                         *[1.6094] * 5),
                          (82.7, 74.7, 61.3, 60.5, *[60.3] * 16))))


def test_a_loss_at_ln_k_for_a_stated_chance_accuracy_of_1_over_k_is_chance() -> None:
    """fresh304 `gearbox_hum_cutout_pseudo`: the labelled inputs zeroed step by step, the
    supervised loss 1.06 -> 1.6094 = ln 5 beside `(chance 20.0%)`."""
    verdict = classify(parsed(ZEROED))
    assert verdict.label == "not_learning:chance"
    assert round(verdict.evidence["chance_stated"], 4) == 1.6094


def test_a_stated_chance_far_from_the_loss_is_no_chance_verdict() -> None:
    """fresh182 `vlm_nested_ids_collate`: `(chance 0.0006%)` is an exact match's, not the
    loss's classes (ln 166,667 = 12.0 against a loss of 1.61)."""
    assert classify(parsed(ZEROED.replace("(chance 20.0%)", "(chance 0.0006%)"))).label \
        != "not_learning:chance"
