"""`watching.columns`: a fixed-width table whose header names hold spaces and brackets is read
by its rows' alignment (fresh56 `blackjack_mc_value_ledger`, a correct run, whose episodes
column was read as the loss: `diverged:exploding`); progress lines and prose are no header."""

from __future__ import annotations

from mlxprobe.watching import columns
from mlxprobe.watching.output import ProgressParser

HEADER = "  upd  episodes  batch mse mse(avg50) rmse vs DP  max err    sec"
ROWS = ["    1       256     1.0873     1.0873     0.5585    0.898    0.0",
        " 1500    384000     0.5445     0.5998     0.0427    0.253    4.8"]


def test_right_aligned_numbers_name_their_columns():
    assert columns.aligned(HEADER, ROWS[0]) == ["upd", "episodes", "batch_mse", "mse",
                                                "rmse_vs_DP", "max_err", "sec"]


def test_left_aligned_numbers_name_their_columns():
    header = "step  train loss  val acc"
    assert columns.aligned(header, "10    0.512       0.81") == ["step", "train_loss",
                                                                 "val_acc"]


def test_a_row_that_does_not_line_up_or_holds_words_names_nothing():
    assert columns.aligned(HEADER, "  1 256 1.0873 1.0873 0.5585 0.898 0.0") is None
    assert columns.aligned("step  note   loss", "10    warm   0.5") is None


def test_progress_lines_and_numbers_are_no_header():
    assert columns.header_like(HEADER)
    for line in ("Step [0]\t\tTraining Loss [3.8122]\t\tLR [0.5]", "final full-data mse: nan",
                 "loss 0.5 acc 0.9", "two words"):
        assert not columns.header_like(line), line


def test_the_parser_reads_the_table_by_its_columns():
    parser = ProgressParser()
    assert parser.parse(HEADER) is None
    first, last = (parser.parse(row) for row in ROWS)
    assert (first["loss"], first["loss_name"]) == (1.0873, "batch_mse")
    assert last["loss"] == 0.5445 and last["metrics"]["episodes"] == 384000.0


def test_bars_around_groups_of_columns_and_a_column_of_shares():
    """fresh166 `seaglass_frost_gan_refcols`: `step | D  G | ...` with a mixture's shares in
    its last column was read headerless, the discriminator's loss as the run's loss."""
    parser = ProgressParser()
    assert parser.parse(" step |      D      G |  D(x)  D(G) | size_mm    ref | "
                        "green/white/brown") is None
    found = parser.parse("  150 |  1.468  0.631 |  0.52  0.55 |   16.22  15.78 |  "
                         "0.92/0.00/0.08")
    assert found is not None and "loss" not in found
    assert found["step"] == 150 and found["metrics"]["d"] == 1.468
    assert found["metrics"]["g"] == 0.631 and found["metrics"]["size_mm"] == 16.22


def test_a_column_of_shares_under_a_metric_is_no_row():
    parser = ProgressParser()
    parser.parse("step  loss  acc")
    assert "loss" not in (parser.parse("10  0.5  0.9/0.8") or {}).get("metrics", {})


def test_a_table_whose_aligned_names_hold_no_position_or_metric_is_no_progress():
    """fresh289 `chaffinch_phrase_elman_floor` (correct): each row's starting learning rate,
    1.0 at every pass, was read as a loss that never moved (`not_learning:trend`)."""
    parser = ProgressParser()
    header = "pass  lr start   lr end  first win  last10 win  held-out      gap   secs"
    rows = ["   1    1.0000   0.0204     3.1716      2.6777    2.6934  +0.9037    1.4",
            "   2    1.0000   0.0204     2.5679      2.0353    2.0808  +0.2911    2.7"]
    assert [parser.parse(line) for line in [header, *rows]] == [None, None, None]


def test_the_same_rows_under_a_header_that_names_a_position_are_read():
    parser = ProgressParser()
    assert parser.parse("epoch  lr start   lr end  val loss   secs") is None
    record = parser.parse("    1    1.0000   0.0204    2.6934    1.4")
    assert record["step"] == 1 and record["metrics"]["val_loss"] == 2.6934


ECHO_HEADER = "block  resid pow     floor  ERLE dB  misalign dB"
ECHO_ROWS = ["    0   0.084192  0.000106     1.37        -0.15",
             "   60   0.000101  0.000101   silent        -4.19",
             "   90   0.002777  0.001564    17.80        -5.81",
             "----- block 300: echo path changed (door opened) -----",
             "  300   0.157891  0.000096     0.60        -2.22"]


def test_a_word_or_a_note_between_rows_does_not_end_a_table_that_names_no_metric():
    """fresh380 `sedge_echo_canceller` (correct): the rows after the first `silent` cell were
    read as a headerless step and loss (the residual power), and the echo path changed on
    purpose at block 300 was read as a 10x spike (`diverged:spike`)."""
    parser = ProgressParser()
    assert [parser.parse(line) for line in [ECHO_HEADER, *ECHO_ROWS]] == [None] * 6


def test_rows_that_do_not_line_up_under_that_table_are_read_again():
    parser = ProgressParser()
    for line in [ECHO_HEADER, *ECHO_ROWS[:2]]:
        parser.parse(line)
    record = parser.parse("step 400 loss 0.25")
    assert record["step"] == 400 and record["loss"] == 0.25


def test_a_word_counts_as_a_value_of_its_width_when_a_row_is_lined_up():
    assert columns.lines_up(ECHO_HEADER, ECHO_ROWS[1])
    assert not columns.lines_up(ECHO_HEADER, "60 0.000101 0.000101 silent -4.19")


def test_a_product_inside_a_header_name_is_one_column():
    """fresh382 `apiary_hive_bayes` (correct): `beta*KL/N` kept the header from being read, so
    each row's KL weight beta, ramped 0.12 -> 1.0, was the loss (`diverged:exploding`)."""
    parser = ProgressParser()
    header = " ep  beta      nll  beta*KL/N    -elbo    v_nll  v_rmse  cov80%  epi_sd     s"
    assert parser.parse(header) is None
    record = parser.parse("  1  0.12  +0.8139     0.2353  +1.0492  +0.7341  0.1315   100.0  "
                          "0.0097   0.3")
    assert record["loss"] == 0.8139 and record["metrics"]["beta"] == 0.12


def test_a_label_in_the_first_column_and_a_unit_in_square_brackets_leave_a_row_readable():
    """fresh383 `platen_bias_tune` (correct): rows labelled `bias-1` under `session` were not
    read, and `train_mse[D2]` named no metric, so its bias-only stage showed one loss and was
    called `no_update:frozen_weights`."""
    parser = ProgressParser()
    assert parser.parse("session   epoch        lr train_mse[D2]   cotton_rmse[D]     secs") \
        is None
    record = parser.parse("bias-1        2  9.00e-03       0.01268           0.1237      0.0")
    assert record["step"] == 2 and record["loss"] == 0.01268
    assert record["loss_name"] == "train_mse"



UNITS_HEADER = (f"{'phase':>5} {'step':>5} {'batch':>5} {'lr':>8} {'mse':>8} {'test PSNR':>10} "
                f"{'gain':>8} {'rate':>14} {'step time':>10}")
UNITS_ROW = (f"{'':>5} {'':>5} {'img':>5} {'':>8} {'':>8} {'dB':>10} {'dB':>8} {'img/s':>14} "
             f"{'ms':>10}")


def units_row(step: int, mse: float) -> str:
    return (f"{1:>5} {step:>5} {16:>5} {5e-4:>8.1e} {mse:>8.4f} {21.0:>10.2f} {6.5:>+8.2f} "
            f"{394:>14.0f} {40.6:>10.1f}")


def test_a_row_of_units_under_the_header_is_not_taken_for_the_header():
    """fresh389 `microfilm_grain_ramp` (correct): its units row replaced the header, so no row
    was read."""
    assert columns.beneath(UNITS_HEADER, UNITS_ROW)
    parser = ProgressParser()
    assert parser.parse(UNITS_HEADER) is None and parser.parse(UNITS_ROW) is None
    record = parser.parse(units_row(15, 0.035))
    assert (record["step"], record["loss"], record["loss_name"]) == (15, 0.035, "mse")
    assert record["metrics"]["phase"] == 1.0 and record["metrics"]["step_time"] == 40.6


def test_words_not_lined_up_under_the_header_or_as_many_as_its_words_are_no_units_row():
    assert not columns.beneath(UNITS_HEADER, "  img    dB  dB  img/s   ms")
    assert not columns.beneath("step  loss  acc", "epoch  loss  acc")
