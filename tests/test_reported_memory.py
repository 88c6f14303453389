"""`judging/reported_memory.py`: memory that grew by what the program prints it keeps (a
size in `_mb`/`_kb` that names no memory counter) is no leak; the same growth beside a size
that names the process's memory, beside a size that grew far less or fell, stays a leak
(stop 97: fresh386 `evaporite_terrace_pathpca`, correct: every parameter iterate kept for a
PCA of its path, `path MB` 0.0 -> 42.8, was called `leak:mx_active`/`leak:rss`).

Cost: < 1 s (facts in memory, no process).
"""

from __future__ import annotations

from collections.abc import Callable

from mlxprobe.judging import reported_memory
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult
from mlxprobe.watching.output import ProgressParser

MB = 1024 * 1024
STEPS = 2400
PER_STEP = 23.4 * 1024  # MLX's active memory a step, measured
KEPT = 4673 * 4 / MB  # the MB of one kept iterate: 4,673 float32 weights


def path_mb(step: int) -> float:
    return round(step * KEPT, 1)


def run(column: str = "path_mb", printed: Callable[[int], float] = path_mb) -> RawResult:
    beats = [{"kind": "step", "step": s, "t": 0.003 * s, "source": "eval",
              "memory": {"mx_active": int(12 * MB + PER_STEP * s)}} for s in range(1, STEPS + 1)]
    reports = [{"kind": "progress", "source": "output", "step": s, "t": 0.003 * s + 1e-4,
                "loss": 0.03 + 1.0 / s, "metrics": {column: printed(s)}}
               for s in range(200, STEPS + 1, 200)]
    return RawResult(records=sorted(beats + reports, key=lambda r: r["t"]), exit_code=0,
                     watched=True)


def test_the_growth_the_program_prints_it_keeps_is_no_leak() -> None:
    verdict = classify(run())
    assert verdict.kind == "pass", verdict.reason
    found = verdict.evidence["memory_views"]["mx_active"]["reported"]
    assert found["printed"] == "path_mb" and 1.0 < found["ratio"] < 1.5


def test_without_the_printed_size_the_same_growth_is_a_leak() -> None:
    assert classify(run(column="val_acc", printed=lambda s: 0.9)).label == "leak:mx_active"


def test_a_size_of_the_process_memory_is_no_excuse() -> None:
    """A program that prints its own memory reports the leak, not something it keeps."""
    for column in ("peak_mem_mb", "rss_mb", "active_mb", "cache_mb"):
        assert classify(run(column=column)).label == "leak:mx_active", column


def test_a_size_that_grew_far_less_or_fell_is_no_excuse() -> None:
    assert classify(run(printed=lambda s: path_mb(s) / 4)).label == "leak:mx_active"
    assert classify(run(printed=lambda s: 50.0 - path_mb(s) / 2 if s < 2400 else 60.0)
                    ).label == "leak:mx_active"


def test_sizes_read_units_and_skip_memory_counters() -> None:
    raw = RawResult(records=[{"kind": "progress", "t": 1.0, "metrics": {
        "buffer_kb": 2048.0, "history_gb": 1.0, "peak_memory_gb": 3.0, "trail_bytes": MB}}],
        exit_code=0, watched=True)
    assert reported_memory.sizes(raw) == {"buffer_kb": [(1.0, 2.0)],
                                          "history_gb": [(1.0, 1024.0)],
                                          "trail_bytes": [(1.0, 1.0)]}


def test_the_parser_keeps_a_byte_unit_printed_after_a_value() -> None:
    """fresh389 `platen_smear_weekly` (correct): its weekly store, `store=0.30 MB`."""
    record = ProgressParser().parse(
        "wk 1 done  holdout acc=88.7%  store=0.30 MB (+0.30 MB, 6000 sheets)  ckpt=20.9 KB  "
        "maxrss=51 MB  week time=1.43 s")
    assert record["metrics"]["store"] == 0.3
    assert record["units"] == {"store": "mb", "ckpt": "kb", "maxrss": "mb"}
    assert "units" not in ProgressParser().parse("step 10 loss 0.5 lr 0.001")


def test_a_size_printed_with_its_unit_after_the_value_excuses_the_growth() -> None:
    raw = run(column="store")
    for record in raw.records:
        if record.get("kind") == "progress":
            record["units"] = {"store": "mb"}
    assert classify(raw).kind == "pass"
    raw = run(column="maxrss")
    for record in raw.records:
        if record.get("kind") == "progress":
            record["units"] = {"maxrss": "mb"}
    assert classify(raw).label == "leak:mx_active"


def test_the_parser_names_a_size_that_has_no_name_of_its_own_by_the_metric_before_it() -> None:
    """fresh388 `organ_voicing_trajectory` (correct): `trajectory  101 snaps /  4.1 MB`, every
    parameter vector kept for a PCA of its path; the size is kept apart from the metrics."""
    record = ProgressParser().parse(
        "[step  100/900] lr 1.98e-03  train_mse  33.174 c^2  valid_rmse  2.95 cents  "
        "trajectory   101 snaps /    4.1 MB  ( 0.5s)")
    assert record["sizes"] == {"trajectory_mb": 4.1}
    assert "trajectory_mb" not in record["metrics"]
    record = ProgressParser().parse("step 200 loss 0.5 buffer 5000 (12.3 KiB)")
    assert record["sizes"] == {"buffer_kib": 12.3}
    assert "sizes" not in ProgressParser().parse("step 10 loss 0.5 (3.2 MB)")


def test_an_unnamed_size_that_grew_with_memory_excuses_the_growth() -> None:
    raw = run(column="trajectory", printed=lambda s: float(s))
    for record in raw.records:
        if record.get("kind") == "progress":
            record["sizes"] = {"trajectory_mb": path_mb(record["step"])}
    assert classify(raw).kind == "pass"
    assert classify(run(column="trajectory", printed=lambda s: float(s))).label == \
        "leak:mx_active"
