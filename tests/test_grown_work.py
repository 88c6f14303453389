"""Curricula seen as one curve or as one memory series (stop 55): a sequence length the
program sets (`metric_names.size_setting`) bounds a loss curve as a stage counter does
(`judging.phases`), and RSS that followed a larger working set and then held is no leak
(`judging.working_set`)."""

from __future__ import annotations

from mlxprobe import metric_names
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult, Sample

# fresh85 `morse_dah_count_curriculum_gru` as printed (CSV: step, seq_len, train_mse_window):
# sequences of 4, 8, 16, then 24 for 250 steps each; the window mse jumps at each change
MSE = [0.609, 0.163, 0.15, 0.151, 0.146, 0.618, 0.408, 0.454, 0.358, 0.314, 1.702, 0.616,
       0.491, 0.499, 0.444, 1.168, 0.686, 0.932, 0.629, 0.553]
LENGTHS = [4] * 5 + [8] * 5 + [16] * 5 + [24] * 5


def csv_reports(name: str, values: list[float]) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 50 * (i + 1), "t": float(i),
                "loss": loss, "loss_name": "train_mse_window", "metrics": {name: value}}
               for i, (loss, value) in enumerate(zip(MSE, values))]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_sequence_length_that_changes_after_holding_starts_a_new_loss_curve():
    assert classify(csv_reports("seq_len", LENGTHS)).kind == "pass"
    # the same loss beside a column that is no setting is one curve that blew past its start
    assert classify(csv_reports("grad_norm", LENGTHS)).kind == "diverged"


def test_a_length_that_moves_at_every_report_is_a_statistic_not_a_setting():
    assert classify(csv_reports("seq_len", list(range(20)))).kind == "diverged"
    assert metric_names.size_setting("max_len") and metric_names.size_setting("level")
    assert not metric_names.size_setting("mean_len")
    assert not metric_names.size_setting("val_mse_cur_len")


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
    # no new peak: nothing says the steps grew
    assert classify(_run(RSS, lambda s: 7.1)).kind == "leak"
