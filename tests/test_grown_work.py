"""Curricula seen as one curve or as one memory series (stop 55): a setting the program
prints and steps (a sequence length, a noise level) bounds a loss curve as a stage counter
does (`judging.phases`), RSS that followed a larger working set and then held is no leak
(`judging.working_set`), and a last stage that fits vectors alone after the weight matrices
trained is no frozen model when its loss halves (`judging.params.frozen_weights`)."""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult, Sample

# fresh85 `morse_dah_count_curriculum_gru` as printed (CSV: step, seq_len, train_mse_window):
# sequences of 4, 8, 16, then 24 for 250 steps each; the window mse jumps at each change
MSE = [0.609, 0.163, 0.15, 0.151, 0.146, 0.618, 0.408, 0.454, 0.358, 0.314, 1.702, 0.616,
       0.491, 0.499, 0.444, 1.168, 0.686, 0.932, 0.629, 0.553]
LENGTHS = [4] * 5 + [8] * 5 + [16] * 5 + [24] * 5


def csv_reports(name: str, values: list, losses: list[float] = MSE) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 50 * (i + 1), "t": float(i),
                "loss": loss, "loss_name": "train_mse_window", "metrics": {name: value}}
               for i, (loss, value) in enumerate(zip(losses, values))]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_sequence_length_that_steps_after_holding_starts_a_new_loss_curve():
    assert classify(csv_reports("seq_len", LENGTHS)).kind == "pass"
    # the same loss beside a column that moves at every report is one curve that blew past
    # its start
    assert classify(csv_reports("seq_len", list(range(20)))).kind == "diverged"


def test_a_noise_level_stepped_up_is_a_stage_whatever_its_name():
    # fresh87 `seismo_denoise_noise_curriculum` as printed (logging lines): max_sigma 0.1,
    # 0.3, 0.6; train_mse jumps at each step and falls within it; ten reports
    mse = [0.0043, 0.00163, 0.00143, 0.00748, 0.00645, 0.00603, 0.01549, 0.0146, 0.01449,
           0.0141]
    sigma = [0.1] * 3 + [0.3] * 3 + [0.6] * 4
    assert classify(csv_reports("max_sigma", sigma, mse)).kind == "pass"
    assert classify(csv_reports("grad_norm_clip", [1.0] * 10, mse)).kind == "diverged"


def test_a_toggle_or_a_blow_up_past_ten_times_is_no_stage():
    # a setting that goes back to a value it had is a toggle (a flag): its first change,
    # at report 4, came with no jump, and each jump meets an old value
    toggled = [0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert classify(csv_reports("mode", toggled)).kind == "diverged"
    # a new curve 30x above where the last began is a blow-up, setting or not
    blown = MSE[:10] + [v * 30 for v in MSE[10:]]
    assert classify(csv_reports("seq_len", LENGTHS, blown)).kind == "diverged"


def _run(rss_mb, peak_mb, active_mb=0.43, steps=1100) -> RawResult:
    """`steps` heartbeats 10 ms apart with MLX's counters, RSS sampled every 30 ms."""
    mb = 1024 * 1024
    records = [{"kind": "step", "step": s, "t": 0.01 * s, "source": "update",
                "memory": {"mx_active": int(active_mb(s) * mb if callable(active_mb)
                                            else active_mb * mb),
                           "mx_peak": int(peak_mb(s) * mb)}} for s in range(1, steps + 1)]
    samples = [Sample(t=0.03 * i, rss=int(rss_mb(max(1, 3 * i)) * mb), cpu_s=0.0, procs=1,
                      compiling=False) for i in range(steps // 3 + 1)]
    return RawResult(records=records, exit_code=0, watched=True, samples=samples)


def _stair(table):
    return lambda step: next(v for start, v in table if step >= start)


# fresh85 `carillon_drift_gru_curriculum` as measured: sequences of 6, 12, 24, then 48 (the
# last 200 of 1,100 steps); RSS follows each new MLX peak by up to ~100 steps, then holds
RSS = _stair(((1000, 113.1), (940, 91.4), (730, 83.4), (610, 77.7), (310, 65.1), (0, 55.2)))
PEAK = _stair(((900, 33.8), (600, 18.6), (300, 11.1), (0, 7.1)))


def test_rss_that_followed_a_larger_working_set_and_held_is_not_a_leak():
    v = classify(_run(RSS, PEAK))
    assert v.kind == "pass"
    found = v.evidence["memory_views"]["rss"]["working_set"]
    assert found["peak_rose"] > 1.1 and found["last_share_moved"] <= 0.01


def test_the_same_stairs_are_a_leak_when_arrays_are_kept_or_rss_climbs_on():
    kept = classify(_run(RSS, PEAK, active_mb=lambda s: 0.4 + 0.02 * s))
    assert kept.kind == "leak"
    # RSS still climbing in its last tenth: a leak whatever the peak did
    assert classify(_run(lambda s: RSS(s) + 0.03 * s, PEAK)).kind == "leak"
    # no new peak and RSS climbing on: nothing says the steps grew
    assert classify(_run(lambda s: RSS(s) + 0.03 * s, lambda s: 7.1)).kind == "leak"


def test_the_same_stairs_with_no_new_peak_that_held_still_at_the_end_are_no_leak():
    # stop 78 (`held_end`): MLX's memory flat and RSS still over the last tenth of the fitted
    # steps; over the corpus's leak cases, every leak with flat MLX memory moved >= 2.08% there
    v = classify(_run(RSS, lambda s: 7.1))
    assert v.kind == "pass"
    assert v.evidence["memory_views"]["rss"]["held_end"]["last_share_moved"] <= 0.005


def _staged(last_curve: list[float], first: list[float] | None = None) -> RawResult:
    """Stage 1: an MLP trained (3 matrices, loss 0.119 -> 0.006; `first` for other reports,
    none for a silent stage); stage 2: all but a temperature frozen, its counter back at 10
    (fresh93 `quasar_tempscale_reliability`)."""
    census = {"model": "ColourNet", "trainable_matrices": 3, "trainable_values": 68355,
              "frozen_matrices": 0, "frozen_quantized": 0}
    later = {**census, "trainable_matrices": 0, "trainable_values": 1, "frozen_matrices": 3}
    steps = [{"kind": "step", "step": s, "t": 0.01 * s, "source": "update"}
             for s in range(1, 1922)]
    first = [0.119, 0.075, 0.049, 0.028, 0.018, 0.014, 0.006, 0.006] if first is None else first
    n = len(first)
    reports = [{"kind": "progress", "source": "output", "step": 10 * (i + 1) if i < n
                else 10 * (i - n + 1), "t": 0.01 * (200 * i + 1), "loss": loss,
                **({"restart": True} if i == n and n else {})}
               for i, loss in enumerate(first + last_curve)]
    looks = [{"kind": "params", "step": 2, "updates": 1, "look": 1, "leaves": 7, "compared": 0,
              "census": [census]},
             {"kind": "params", "step": 1922, "updates": 1921, "look": 2, "leaves": 7,
              "compared": 0, "census": [later]}]
    return RawResult(records=steps + reports + looks, exit_code=0, watched=True)


def test_a_temperature_fitted_after_training_is_a_stage_not_a_frozen_model():
    assert classify(_staged([0.7859, 0.33, 0.2843, 0.2561, 0.2556, 0.2556])).kind == "pass"
    # the same stages with a last curve that barely falls: an unfreeze that missed
    missed = classify(_staged([1.4731, 1.5424, 1.4261, 1.394, 1.4953, 1.3324]))
    assert missed.label == "no_update:frozen_weights"


def test_biases_fitted_on_a_gaussian_nll_below_zero_are_a_stage_not_a_frozen_model():
    # fresh260 hivescale_nectarflow_bitfit: the float fit silent, then train NLL -0.146 ->
    # -0.468 with only the biases of a frozen 4-bit base trained
    nll = [-0.1456, -0.4104, -0.402, -0.4187, -0.4013, -0.4426, -0.4317, -0.462]
    assert classify(_staged(nll, first=[])).kind == "pass"
    flat = [-0.41, -0.42, -0.40, -0.43, -0.41, -0.42]  # below 0 and barely falling
    assert classify(_staged(flat, first=[])).label == "no_update:frozen_weights"
    across = [0.30, 0.10, -0.05, -0.2, -0.4, -0.6]  # crosses 0: neither reading holds
    assert classify(_staged(across, first=[])).label == "no_update:frozen_weights"


def test_a_second_stage_stepped_by_hand_whose_loss_keeps_falling_is_not_updates_ended():
    """fresh97 `cheese_grade_distill_toml`: a teacher trained with AdamW (counted updates),
    then a student stepped by a hand-written momentum update (none counted); its hard_ce
    fell at every report after the last counted update. The same run with its reports flat
    after it is a loop that stopped stepping; a counter that grows (`epoch`) is no curve."""
    def run(after: list[float]) -> RawResult:
        updates = [{"kind": "step", "source": "update", "step": s, "t": 0.01 * s}
                   for s in range(1, 559)]
        before = [{"kind": "progress", "source": "output", "step": i, "t": 1.0 * i,
                   "loss": 0.66 - 0.03 * i, "loss_name": "train_ce",
                   "metrics": {"test_acc_pct": 79.0 + 0.4 * i}} for i in range(1, 6)]
        later = [{"kind": "progress", "source": "output", "step": 6 + i, "t": 6.0 + 2 * i,
                  "loss": loss, "loss_name": "hard_ce",
                  "metrics": {"test_acc_pct": 81.0, "epoch": float(i)}}
                 for i, loss in enumerate(after)]
        return RawResult(records=updates + before + later, exit_code=0, watched=True)

    falling = [0.708, 0.557, 0.530, 0.526, 0.523, 0.521]
    assert classify(run(falling)).kind == "pass"
    assert classify(run([0.521] * 6)).label == "no_update:updates_ended"


def test_a_frozen_copy_listed_beside_the_model_it_shadows_is_no_frozen_model():
    """fresh97 `braille_ema_smooth`: a frozen EMA shadow, updated by hand, censused beside
    the model a hand-written Nesterov step trains; the shadow was judged alone."""
    shadow = {"model": "Reader", "trainable_matrices": 0, "trainable_values": 0,
              "frozen_matrices": 3, "frozen_quantized": 0}
    trained = {**shadow, "trainable_matrices": 3, "trainable_values": 12698,
               "frozen_matrices": 0}
    steps = [{"kind": "step", "step": s, "t": 0.01 * s, "source": "eval"} for s in range(1, 400)]

    def run(census: list[dict]) -> RawResult:
        look = {"kind": "params", "step": 1, "updates": 0, "look": 1, "leaves": 6,
                "compared": 0, "census": census}
        return RawResult(records=steps + [look], exit_code=0, watched=True)

    assert classify(run([shadow, trained])).kind == "pass"
    assert classify(run([shadow])).label == "no_update:frozen_weights"


def _reloaded(end: float, before: float = 0.9517, trained: float = 0.0218,
              name: str = "val_mse") -> RawResult:
    """A base evaluation, 3,000 updates with training lines (`train_mse`, then `name`), and
    a last line after a fuse that prints `name` alone (fresh98 `lora_fuse_reload`)."""
    updates = [{"kind": "step", "source": "update", "step": s, "t": 0.001 * s}
               for s in range(1, 3001)]
    first = {"kind": "progress", "source": "output", "step": 1, "t": 0.0,
             "metrics": {name: before}}
    lines = [{"kind": "progress", "source": "output", "step": 500 * i, "t": 0.5 * i + 0.0005,
              "loss": 0.05 - 0.005 * i, "loss_name": "train_mse",
              "metrics": {name: trained + 0.005 * (6 - i)}} for i in range(1, 7)]
    last = {"kind": "progress", "source": "output", "step": 3000, "t": 4.0,
            "metrics": {name: end}}
    return RawResult(records=updates + [first, *lines, last], exit_code=0, watched=True)


def test_a_fused_model_back_at_the_base_value_is_reverted_whatever_its_line_prints():
    v = classify(_reloaded(end=0.9517))
    assert v.label == "wrong_result:reverted" and "fuse" in v.hint
    assert classify(_reloaded(end=0.0218)).kind == "pass"  # the fuse kept the adapter


def test_a_best_epoch_restored_a_fifth_of_a_point_away_is_no_reload():
    # fresh76 `hive_swarm_lion_restore`: val_acc_pct 79.67 at the best epoch, 79.87 at the
    # last, 79.67 again after restoring the best: 0.2 points, not ten
    assert classify(_reloaded(end=79.67, before=79.67, trained=79.87 - 0.025,
                              name="val_acc_pct")).kind == "pass"
    # ten points and more, back to the exact value before training: a reload that dropped
    assert classify(_reloaded(end=57.5, before=57.5, trained=84.0 - 0.025,
                              name="val_acc_pct")).label == "wrong_result:reverted"


def test_a_restore_back_to_an_evaluation_that_printed_nan_names_the_nan_best() -> None:
    """fresh197 `snowmelt_pearson_bestrestore`: a step-0 val_r of nan kept as the best."""
    raw = _reloaded(end=0.9517)
    raw.records[3000]["metrics"]["val_r"] = "nan"  # the first evaluation's record
    v = classify(raw)
    assert v.label == "wrong_result:reverted" and "`val_r` read nan" in v.hint
    assert "cur == cur" in v.hint
    assert "cur == cur" not in classify(_reloaded(end=0.9517)).hint
