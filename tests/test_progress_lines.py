"""Progress read from output lines (`watching.output`), and the stall confirmation's reading of
stack dumps (`watching.confirm`)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlxprobe.watching.confirm import main_stacks
from mlxprobe.watching.output import ProgressParser, validate

PARSER = ProgressParser()


@pytest.mark.parametrize("line, step, loss", [
    ("step 12 loss 3.4567", 12, 3.4567),
    ("Iter 10: Train loss 6.170, Learning Rate 1.000e-05, It/sec 2.345", 10, 6.17),
    ("iter 5 | loss 2.3", 5, 2.3),
    ("[step 100/1000] loss=2.3", 100, 2.3),
    ("Epoch 1 Step 10 Loss: 2.3", 10, 2.3),
    ("\x1b[1mstep\x1b[0m 7 loss \x1b[32m1.5e-02\x1b[0m", 7, 0.015),
    ("loss=0.25 step=40", 40, 0.25),
    ("step 3 loss nan", 3, "nan"),
])
def test_built_in_forms(line, step, loss):
    record = ProgressParser().parse(line)
    assert record["kind"] == "progress" and record["source"] == "output"
    assert (record["step"], record["loss"]) == (step, loss)


def test_a_validation_line_is_a_metric_never_the_training_loss():
    record = ProgressParser().parse("Iter 1: Val loss 6.200, Val took 1.234s")
    assert record == {"kind": "progress", "source": "output", "step": 1,
                      "metrics": {"val_loss": 6.2}}


@pytest.mark.parametrize("line", ["loading model weights", "2024-01-01 12:00:01 saved", "",
                                  "step: done", "it took 3 s", "Total parameters: 1234",
                                  "Model has 12 layers", "Epoch 3 finished in 2.3s"])
def test_lines_without_progress(line):
    assert ProgressParser().parse(line) is None


def test_a_user_regex_replaces_the_built_in_forms():
    parser = ProgressParser(r"\[(?P<step>\d+)\] obj=(?P<loss>\S+)")
    assert parser.parse("[4] obj=0.5")["loss"] == 0.5
    assert parser.parse("step 12 loss 3.4") is None


def test_validate_names_the_problem():
    assert "not a regular expression" in validate("(")
    assert "(?P<step>" in validate(r"loss (\d+)")
    assert validate(r"(?P<step>\d+)") is None


@given(st.text(max_size=300))
def test_the_parser_never_raises(line):
    record = ProgressParser().parse(line)
    assert record is None or isinstance(record["step"], int)


DUMP = """Thread 0x00007f1 (most recent call first):
  File "beats.py", line 158 in loop
  File "threading.py", line 982 in run

Current thread 0x00007f2 (most recent call first):
  File "train.py", line 42 in step
  File "train.py", line 50 in <module>
"""


def test_main_stacks_keeps_the_signalled_thread_only():
    assert main_stacks(DUMP) == ['File "train.py", line 42 in step\n'
                                 'File "train.py", line 50 in <module>']
    assert main_stacks("(no Python stacks)") == []


def test_a_table_is_read_by_its_header():
    """`epoch  batch  mse  val_mse` then rows of numbers: each number takes its column's
    name (the row's first numbers are the epoch and the batch, never the loss)."""
    parser = ProgressParser()
    assert parser.parse(f"{'epoch':>5} {'batch':>6} {'mse':>9} {'val_mse':>9}") is None
    record = parser.parse("    3     27    9.8524   12.5087")
    assert record["loss"] == 9.8524 and record["loss_name"] == "mse"
    assert record["metrics"] == {"val_mse": 12.5087}


def test_a_table_with_a_percentage_column_is_read_by_its_header():
    """`step | l1_w | total | recon | l1 | active%` (fresh5's sparse autoencoder): the loss
    is the column named like one, never the first number after the step (a coefficient)."""
    parser = ProgressParser()
    assert parser.parse("step |   l1_w |    total |    recon |      l1 | active%") is None
    record = parser.parse("  100 | 0.0056 |   0.1750 |   0.0834 |  16.491 |    80.8")
    assert record["loss"] == 0.0834 and record["loss_name"] == "recon"
    assert record["metrics"]["l1_w"] == 0.0056


def test_a_semicolon_separated_table_is_read_by_its_header():
    """`step;cauchy_loss;median_inlier_px;...` (fresh58 homography_cauchy_outliers: the CSV
    of a locale whose decimal mark is a comma) reads as comma- and tab-separated ones do."""
    parser = ProgressParser()
    assert parser.parse("step;cauchy_loss;median_inlier_px;mean_outlier_px;elapsed_s") is None
    record = parser.parse("200;1.59857;1.206;380.1;2.01")
    assert record["step"] == 200 and record["loss"] == 1.59857
    assert record["loss_name"] == "cauchy_loss" and record["metrics"]["median_inlier_px"] == 1.206


def test_rows_under_a_header_that_names_no_metric_are_not_progress():
    """`pos  team  learned  true` (fresh61 davidson_matchday_ratings' final league table):
    its rows are no headerless `step loss` rows (the team ids were read as a loss of 6, 37,
    27, ...); a line that is not such a row ends the table, and a two-number row after it
    is read as one again."""
    parser = ProgressParser()
    assert parser.parse("pos  team  learned    true") is None
    assert parser.parse("  1     6    1.476   1.485") is None
    assert parser.parse("  2    37    1.422   1.261") is None
    assert parser.parse("") is None
    assert parser.parse("  10   6.170")["loss"] == 6.17


def test_a_line_that_names_its_loss_is_no_headerless_row():
    """strace's `PID  CLOCK  call(args) = ret` (fresh65 collatz_bits_strace): the process id
    and the clock are no step and loss when the line names its own (`train_ce=1.6370`), and
    a bracket holding `name=value` pairs is no qualifier of the name before it (it read
    `epoch(...) = 224` as epoch 224)."""
    parser = ProgressParser()
    record = parser.parse("40117  0.928610 epoch(1, train_ce=1.6370, test_ce=1.4878, "
                          "test_acc=0.354) = 224 <0.919>")
    assert record["loss"] == 1.637 and record["loss_name"] == "train_ce"
    assert record["metrics"]["test_acc"] == 0.354
    assert ProgressParser().parse("  10   6.170 ▼  1234.5")["loss"] == 6.17


def test_a_whole_number_second_is_a_counter_column_not_a_loss():
    """`stage legs step sq_err | val_err fix` rows with no header read (fresh70
    dead_reckoning_curriculum): the curriculum's passage length 6 -> 32 second on each row
    was read as a loss and called `diverged:exploding`. A headerless row's loss is written
    as a real number; a row with a decimal second is read as before."""
    parser = ProgressParser()
    assert parser.parse("1   6    50    3.264 | 20.473 0.000") is None
    assert parser.parse("4  32   950   17.088 |  4.114 0.075") is None
    assert parser.parse("  10   6.170")["loss"] == 6.17
    assert parser.parse("  20   nan")["step"] == 20
    assert parser.parse("  30   1e-3")["loss"] == 0.001


def test_a_row_with_a_word_for_its_position_is_read_without_it():
    """fresh76 geyser_interval_nll_seeds: `init  nan  1.4133  88.4%  11.34` (the evaluation
    before training, its training loss a nan placeholder) under `epoch  train_nll  test_nll
    cover90  mae_min` was read as a metric `init` that was nan at every seed's start."""
    parser = ProgressParser()
    assert parser.parse("    epoch  train_nll  test_nll  cover90  mae_min") is None
    record = parser.parse("     init        nan    1.4133    88.4%    11.34")
    assert record["loss_name"] == "train_nll" and "init" not in record.get("metrics", {})
    assert record["metrics"]["test_nll"] == 1.4133
    assert parser.parse("        1     0.1865    0.0737    91.5%     2.99")["loss"] == 0.1865


def test_a_players_loss_read_by_a_built_in_pattern_keeps_the_players_name():
    """fresh79 cooperage_char_gan: `iter 300 | D loss 1.376 | G loss 0.716` read the
    discriminator's loss as a plain `loss` (judged for a fall at its equilibrium, 2 ln 2)
    while the generator's kept `g_loss`; a qualifier that is no player's leaves it `loss`."""
    record = ProgressParser().parse("iter   300 | D loss 1.376 | G loss 0.716 | W1 0.201 mm")
    assert record["loss"] == 1.376 and record["loss_name"] == "d_loss"
    assert record["metrics"]["g_loss"] == 0.716 and "d_loss" not in record["metrics"]
    assert "loss_name" not in ProgressParser().parse("Iter 10: Train loss 6.170, lr 1e-5")


def test_a_unified_diff_of_metric_files_reads_its_added_lines_only():
    """fresh66 pv_iv_fault_unidiff: `-train_ce = nan` (the untrained placeholder, replaced)
    was read as a negated metric gone non-finite; after a hunk header a removed line is not
    read, an added one is read without its `+`."""
    parser = ProgressParser()
    assert parser.parse("--- a/epoch_00.metrics") is None
    assert parser.parse("+++ b/epoch_01.metrics") is None
    assert parser.parse("@@ -1,10 +1,10 @@") is None
    assert parser.parse("-train_ce = nan") is None
    record = parser.parse("+train_ce = 0.5930")
    assert record["loss"] == 0.593 and record["loss_name"] == "train_ce"
    negated = ProgressParser().parse("it 3  -elbo 3558.823")  # no diff: a negated name
    assert "minus_elbo" in str(negated) or negated.get("loss") == 3558.823


def test_a_line_reporting_a_reference_by_its_first_word_is_not_progress():
    """fresh68 hover_thrust_dig: `random.hover.policy. 0 IN TXT "final_err_m=7.67"` after
    the trained policy's line is a random policy's error, not the model read again; a name
    that only starts like one (`random_seed=3`) or a metric named after it is still read."""
    parser = ProgressParser()
    assert parser.parse('random.hover.policy. 0 IN TXT "return=-21.759" "final_err_m=7.67"') \
        is None
    assert parser.parse("baseline mse 1.02") is None
    assert parser.parse("chance acc 0.25") is None
    assert parser.parse("step 3 loss 0.5 random_seed=3")["loss"] == 0.5
    assert parser.parse('greedy.hover.policy. 0 IN TXT "return=-3.447" "final_err_m=0.19"') \
        is not None


def test_a_reference_heading_after_a_logging_prefix_is_not_progress():
    """fresh142 hurdy_chien_buzz_earlystop: `INFO    chien | reference: constant-rate
    predictor held 0.6624  auc 50.00%` after the restored model's line was read as the model
    evaluated again (AUC 84.26 -> 50) and called `wrong_result:degraded`. A reference word
    behind a logging prefix is a reference line; `reference` with a number after its colon is
    a key, and `untrained:` is a heading read as before."""
    parser = ProgressParser()
    assert parser.parse("INFO    chien | reference: constant-rate predictor held 0.6624  "
                        "auc 50.00%") is None
    assert parser.parse("2024-05-01 12:00:00,123 - INFO - baseline acc 0.25") is None
    assert parser.parse("INFO:root:epoch 3 loss 0.4")["loss"] == 0.4
    assert parser.parse("untrained: val nll 3.2") is not None
    assert parser.parse("INFO    chien | epoch 30  train 0.4230  held 0.4754  auc 84.31%") \
        is not None


def test_a_ref_heading_is_a_reference_line():
    """fresh210 scriptio_boundary_folds_restore: `ref: always-'start' tagger F1 = 39.9%` after
    the restored model's 99.1% was read as the model evaluated again."""
    parser = ProgressParser()
    assert parser.parse("ref: always-'start' tagger F1 = 39.9%, prior BCE = 0.5614") is None
    assert parser.parse("step 3 ref: 0.5 loss 0.4") is not None  # a key with its number
    assert parser.parse("ref_loss 0.5 loss 0.4 step 3") is not None


def test_a_sentence_is_never_a_table_header():
    parser = ProgressParser()
    assert parser.parse("Loading tokenizer files") is None
    assert parser.parse("  10   6.170 ▼  1234.5")["loss"] == 6.17  # mlx-lm's row, as before


def test_a_header_naming_a_negated_quantity_is_read():
    """fresh97 `stalagmite_agedepth_bbb`: `step beta -elbo nll kl/N ...` was not read as a
    header (a name may not start with `-`), so each row was read headerless and its second
    number, the KL weight ramping 0 -> 1, became the loss (`diverged:exploding`)."""
    parser = ProgressParser()
    assert parser.parse(" step   beta      -elbo       nll      kl/N   test_nll") is None
    record = parser.parse("  400  0.333     1.2080   -0.8256   16.0341    -1.1981")
    assert record["loss"] == 1.208 and record["metrics"]["beta"] == 0.333
    assert record["metrics"]["nll"] == -0.8256
