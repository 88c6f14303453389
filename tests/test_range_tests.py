"""Learning-rate range tests before the real run (stop 56): a sweep's table whose header
names a column in two words and whose rows carry a note, a table whose header is followed by
a note before its first row, a split's loss printed in bits (`train 1.678 bits/jump`), and
a new loss curve after a curve that ended in a blow-up (`judging.phases._blew_up`)."""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching import columns, fields
from mlxprobe.watching.facts import RawResult
from mlxprobe.watching.output import ProgressParser

# fresh99 `ean_scanline_conv_rangetest` as printed (the sweep, then training fresh weights)
EAN = """\
LR range test (throwaway network, SGD momentum 0.9, batch 128)
  step         lr  smoothed loss
     0   1.00e-04         2.3023
    16   3.19e-04         2.3036
    32   1.01e-03         2.3043
    48   3.23e-03         2.2944
    64   1.03e-02         2.2789
    80   3.28e-02         2.1349
    96   1.04e-01         1.8578
   112   3.33e-01         1.5924
   128   1.06e+00         2.4550
   132   1.42e+00        55.4202   <- blew up, sweep stopped
lowest smoothed loss 1.4514 at lr 5.14e-01; training with peak lr 5.14e-02

training from fresh weights (SGD nesterov, warm-up then cosine)
untrained: symbol error 93.9%  (guessing 90.0%)  read rate 0.0%
epoch         lr  train ce  symbol err  6-digit reads   secs
  (first step: 8 gradient leaves, zero leaves: none)
    1   5.09e-02    1.5990       14.9%          41.0%    1.2
    2   4.89e-02    0.2350        5.0%          73.2%    1.2
    3   4.19e-02    0.1132        2.9%          84.0%    1.2
    4   3.17e-02    0.0728        2.6%          84.5%    1.1
    5   2.04e-02    0.0460        2.4%          87.0%    1.1
    6   1.02e-02    0.0302        1.5%          91.2%    1.1
    7   3.09e-03    0.0210        1.2%          92.8%    1.1
    8   5.14e-04    0.0184        1.2%          92.8%    1.1
"""


def parsed(text: str) -> list[dict]:
    parser = ProgressParser()
    return [r for r in map(parser.parse, text.splitlines()) if r is not None]


def test_a_sweep_table_reads_its_two_word_loss_column_and_its_noted_last_row():
    sweep = [r for r in parsed(EAN) if r.get("loss_name") == "smoothed_loss"]
    assert [r["loss"] for r in sweep[:2]] == [2.3023, 2.3036]
    assert sweep[0]["metrics"] == {"learning_rate": 0.0001}
    # the row with a note after its last column is read, not its learning rate as the loss
    assert sweep[9]["loss"] == 55.4202 and sweep[9]["metrics"] == {"learning_rate": 1.42}


def test_a_header_whose_first_row_comes_after_a_note_still_names_the_columns():
    rows = [r for r in parsed(EAN) if r.get("loss_name") == "train_ce"]
    assert [r["loss"] for r in rows] == [1.599, 0.235, 0.1132, 0.0728, 0.046, 0.0302, 0.021,
                                         0.0184]
    assert rows[0]["metrics"]["symbol_err"] == 14.9
    assert rows[0]["metrics"]["digit_reads"] == 41.0


def test_header_words_that_name_two_measures_are_two_columns_not_one():
    # fresh82 `ropeway_sway_allsum_earlystop`: the epoch-0 row has no train_ce
    header = "epoch  train_ce   val_ce val_acc%  best wait  secs"
    assert columns.aligned(header, "    0             1.0788    57.87              0.0") \
        is None
    assert columns.aligned("  step         lr  smoothed loss",
                           "     0   1.00e-04         2.3023") == ["step", "lr", "smoothed_loss"]


def test_a_split_named_value_in_bits_or_nats_is_that_split_s_cross_entropy():
    assert fields.read("epoch 1/10 [###]  10/93 train 1.555 bits/jump").values == {
        "train_nll": 1.555}
    assert fields.read("untrained: val 2.049 nats, accuracy 19.6%").values == {
        "val_nll": 2.049, "accuracy": 19.6}
    # a policy's entropy or a prior's, in nats or bits, is no split's loss
    assert fields.read("entropy 0.69 nats").values == {"entropy": 0.69}
    assert fields.read("class prior 1.366 bits/jump").values == {"prior": 1.366}


def timed(records: list[dict]) -> RawResult:
    for i, record in enumerate(records):
        record["t"] = float(i)
    return RawResult(records=records, exit_code=0, watched=True)


def test_training_after_a_sweep_that_blew_up_is_judged_as_its_own_curve():
    raw = timed(parsed(EAN))
    verdict = classify(raw)
    assert verdict.kind == "pass", verdict.reason


def test_a_blow_up_the_run_trains_on_through_stays_one_curve():
    # the same sweep, then the counter back at 1 and a loss that stays far above where the
    # sweep began: no fresh start, the blow-up is kept
    records = parsed(EAN)[:11]
    records += [{"kind": "progress", "source": "output", "step": 1 + i, "loss": v,
                 "loss_name": "smoothed_loss", **({"restart": True} if i == 0 else {})}
                for i, v in enumerate([40.0, 38.0, 41.0, 39.5])]
    verdict = classify(timed(records))
    assert verdict.kind == "diverged", verdict.reason


def test_a_box_drawing_bar_separates_columns_even_against_a_name():
    # fresh105 `ski_lift_queue_vae_cyclic`: `-ELBO test│` has no space before its bar
    table = """\
┌───────┬───────┬───────────┬──────────┬─────────┬───────────┬────────┐
│  step │  beta │ objective │  recon   │    KL   │ -ELBO test│  secs  │
├───────┼───────┼───────────┼──────────┼─────────┼───────────┼────────┤
│   200 │  0.50 │    14.855 │   13.850 │   4.540 │    15.289 │    9.4 │
│   400 │  1.00 │    14.052 │   11.903 │   2.900 │    14.059 │    9.8 │
"""
    rows = parsed(table)
    assert [r["metrics"]["beta"] for r in rows] == [0.5, 1.0]
    assert rows[0]["metrics"]["minus_elbo_test"] == 15.289
    assert "beta" not in {r.get("loss_name") for r in rows}


def test_a_second_model_that_restarts_above_everything_the_first_printed_is_a_new_curve():
    from mlxprobe.judging import phases
    # fresh107 `refill_dpsgd_rst`: a reference converged by its first epoch (0.4358 ->
    # 0.4164, a 4.5% fall), then DP-SGD from scratch, its epoch counter back at 1
    reference = [0.4358, 0.4194, 0.4193, 0.4178, 0.4178, 0.4185, 0.4171, 0.4169, 0.4174, 0.4164]
    dp = [0.4952, 0.4277, 0.4373, 0.4409, 0.441, 0.4431, 0.4415, 0.4413, 0.4417, 0.4417]
    records = [{"kind": "progress", "source": "output", "step": 1 + i % 10, "t": float(i),
                "loss": v, **({"restart": True} if i == 10 else {})}
               for i, v in enumerate(reference + dp)]
    raw = RawResult(records=records, exit_code=0, watched=True)
    assert phases.last_start(raw, reference + dp) == 10
    # an epoch restart on a flat noisy loss that stays within 5% of what came before is not
    noisy = reference + [0.4271, 0.4180, 0.4190, 0.4175, 0.4181, 0.4177, 0.4170, 0.4172, 0.4168,
                         0.4169]
    raw = RawResult(records=[{**r, "loss": v} for r, v in zip(records, noisy)], exit_code=0,
                    watched=True)
    assert phases.last_start(raw, noisy) == 0
