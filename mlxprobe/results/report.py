"""The JSON report: the contract other tools read (schema 1), written atomically.

Job: turn (spec, raw facts, verdict) into a run entry with metrics and compact per-step
series, gather entries into a report, write it atomically (temp file + rename), and load a
report back, refusing unknown schemas and corrupt files with a one-line UsageError.

Shape: {"schema": 1, "mlxprobe_version", "mlx_version", "python", "platform", "created",
"complete" (when false, also "missing": [{"scenario", "variant", "repeat"}] and "stopped": why),
"fingerprint": {"mlx_version", "python", "os", "machine", "device", "name"},
"runs": [{"scenario", "variant", "repeat", "expected", "expected_before_mlx" (the mlx
bound whose override set `expected`, or null), "verdict", "detail", "matched",
"reason", "hint", "evidence", "metrics": {"steps", "wall_s", "step_ms_median",
"peak_rss_mb", "rss_mb_per_step", "loss_final", "startup_s", "setup_s", "loop_s",
...}, "series": {...}, "stacks": {...}}]}

Must not import: mlx, the runner.
"""

from __future__ import annotations

import json
import math
import platform
import re
import statistics
import time
from pathlib import Path

from .. import __version__
from ..errors import UsageError
from ..judging.stats import even_subsample, window_median
from ..judging.verdict import (
    MB,
    Verdict,
    leak_fit,
    matches,
    memory_at_steps,
    metric_series,
    metric_tally,
    rss_at_steps,
)
from ..launching.spec import RunSpec
from ..protocol import NON_FINITE
from ..watching.facts import RawResult
from . import fingerprint, textfile

SCHEMA = 1
RUN_KEYS = ("scenario", "variant", "expected", "verdict", "matched")  # in every schema-1 run
SERIES_POINTS = 400  # per-step series are downsampled to at most this many points
NOTES = 50  # probe.note records kept per run
FLAT_LIST = re.compile(r"\[[^\[\]{}]*\]")  # a JSON list holding no list or object


def run_entry(spec: RunSpec, raw: RawResult, verdict: Verdict) -> dict:
    """One run's entry in the report."""
    return {"scenario": spec.scenario_id, "variant": spec.variant, "repeat": spec.repeat,
            "expected": spec.expected, "expected_before_mlx": spec.expected_before_mlx,
            "verdict": verdict.kind, "detail": verdict.detail,
            "matched": matches(verdict, spec.expected), "reason": verdict.reason,
            "hint": verdict.hint, "evidence": _json_safe(verdict.evidence),
            "metrics": metrics(raw), "series": series(raw), "stacks": _stacks(raw),
            "notes": [_json_safe(n.get("info", {})) for n in raw.of_kind("note")][:NOTES],
            "environment": {k: raw.start.get(k) for k in ("mlx_version", "device", "python")}}


def program_entry(argv: list[str], raw: RawResult, verdict: Verdict) -> dict:
    """A watched program's entry: the same fields as a scenario run's, no expectation
    (`expected` is None and `matched` means "no problem found"), plus how it was seen."""
    entry = run_entry(_ProgramSpec(argv), raw, verdict)
    ended = raw.stall is not None or raw.memory_limit_mb is not None or raw.interrupted
    entry.update(expected=None, matched=verdict.kind == "pass", program=list(argv),
                 sources=raw.sources, extensions=raw.extensions, ended_by_mlxprobe=ended,
                 interposer=raw.interposer or None,
                 output_tail={"stdout": raw.stdout_tail[-4000:],
                              "stderr": raw.stderr_tail[-4000:]})
    return entry


class _ProgramSpec:
    """What `run_entry` reads of a spec, for a program: its name and arguments."""

    def __init__(self, argv: list[str]) -> None:
        self.scenario_id = "watch"
        self.variant = " ".join(argv)[:120]
        self.repeat = 0
        self.expected = "pass"
        self.expected_before_mlx = None


def metrics(raw: RawResult) -> dict:
    step_s = [r["step_s"] for r in raw.steps[1:] if isinstance(r.get("step_s"), (int, float))]
    losses = [v for v in metric_series(raw, "loss") if math.isfinite(v)]
    loss = metric_tally(raw, "loss")
    return {"steps": raw.step_count, "wall_s": round(raw.wall_s, 3),
            "step_ms_median": round(statistics.median(step_s) * 1000, 3) if step_s else None,
            "first_step_ms": _first_step_ms(raw), **memory_peaks(raw),
            "loss_first": loss.first_finite, "loss_last": loss.last_finite,
            "loss_final": _final(losses), "rss_mb_per_step": _slope(raw),
            "exit_code": raw.exit_code, "signal": raw.signal, **phases(raw),
            "startup_idle_max_s": round(raw.startup_idle_max_s, 2)}


def memory_peaks(raw: RawResult) -> dict:
    """Peaks of each memory view in MB. `peak_rss_mb`: the kernel's high-water mark of the
    largest process (VmHWM: exact, never a sum) where known, else the highest
    20 Hz sample; `peak_tree_rss_mb`: the highest sample of the whole tree (its processes
    summed); `peak_device_mb`: GPU memory of the tree (NVML), `peak_mx_active_mb`: MLX's own
    counter at the heartbeats; None where the view was not seen."""
    sampled = raw.sampled.peak_rss / MB  # exact over the whole run (the store keeps the max)
    device = [s.device for s in raw.samples if getattr(s, "device", None) is not None]
    active = [r.get("memory", {}).get("mx_active") for r in raw.steps]
    active = [a for a in active if isinstance(a, int)]
    peak = raw.peak_rss / MB if raw.peak_rss else sampled
    return {"peak_rss_mb": round(peak, 1), "peak_tree_rss_mb": round(sampled, 1),
            "peak_device_mb": round(max(device) / MB, 1) if device else None,
            "peak_mx_active_mb": round(max(active) / MB, 2) if active else None}


def phases(raw: RawResult) -> dict:
    """Where the wall time went: `startup_s` child start to its start record (python and
    mlx imported), `setup_s` from there to the first step's start (the scenario's model and
    data), `loop_s` the sum of step times. The rest of wall_s comes after the last step."""
    start = raw.start.get("t")
    steps = raw.steps
    first = steps[0] if steps else {}
    begun = first["t"] - first["step_s"] if isinstance(first.get("step_s"), (int, float)) \
        else None
    return {"startup_s": _seconds(start, raw.started), "setup_s": _seconds(begun, start),
            "loop_s": round(raw.view(raw.steps_view).step_s, 3)}


def _seconds(end: float | None, begin: float | None) -> float | None:
    return round(max(0.0, end - begin), 3) if end is not None and begin is not None else None


def _final(losses: list[float]) -> float | None:
    """Median loss of the last 10% of steps (at least 3): steadier than the last batch's."""
    return round(window_median(losses, 0.1, 3, tail=True), 6) if losses else None


def _slope(raw: RawResult) -> float | None:
    """RSS MB per step after warm-up (the leak fit), None when too few steps to fit."""
    fit = leak_fit(raw)
    return fit["rss_mb_per_step"] if fit else None


def _first_step_ms(raw: RawResult) -> float | None:
    steps = raw.steps
    if not steps or not isinstance(steps[0].get("step_s"), (int, float)):
        return None
    return round(steps[0]["step_s"] * 1000, 3)


def series(raw: RawResult) -> dict:
    """Per-step series, downsampled: step, step_ms, loss, rss_mb, mx_active_mb, and under
    "metrics" every metric the loop reported as a number (grad_norm, val_loss, ...)."""
    rss = dict(rss_at_steps(raw))
    steps = even_subsample(raw.steps, SERIES_POINTS)
    out = {"step": [r.get("step") for r in steps],
           "step_ms": [_round(r.get("step_s"), 1000) for r in steps],
           "loss": [_json_number(r.get("loss")) for r in steps],
           "rss_mb": [_round(rss.get(r.get("step")), 1) for r in steps],
           "mx_active_mb": [_round(r.get("memory", {}).get("mx_active"), 1 / MB) for r in steps]}
    device = dict(memory_at_steps(raw, "device"))
    if device:  # GPU memory (NVML), beside RSS
        out["device_mb"] = [_round(device.get(r.get("step")), 1) for r in steps]
    names = sorted({k for r in steps for k, v in r.get("metrics", {}).items()
                    if isinstance(v, (bool, int, float)) or v in NON_FINITE})
    out["metrics"] = {n: [_json_number(r.get("metrics", {}).get(n)) for r in steps]
                      for n in names}
    learning, beats = raw.learning, raw.steps
    if learning and (not beats or learning[0] is not beats[0]):  # another source (watch)
        learning = even_subsample(learning, SERIES_POINTS)
        out["loss_at"] = {"step": [r.get("step") for r in learning],
                          "loss": [_json_number(r.get("loss")) for r in learning]}
    return out


def _round(value: object, scale: float) -> float | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return round(value * scale, 4)


def _json_number(value: object) -> float | str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value if isinstance(value, (int, float, str)) or value is None else None


def _stacks(raw: RawResult) -> dict:
    if raw.stall is None and not raw.interrupted:
        return {}
    if raw.interposer and raw.python_stacks.startswith("(no Python stacks"):
        return {"native": raw.native_stacks}  # a native program: there are none to take
    return {"python": raw.python_stacks, "native": raw.native_stacks}


def _json_safe(value: object) -> object:
    """A copy of `value` with non-finite floats as strings (strict JSON readers choke on NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def build(entries: list[dict], complete: bool = True, missing: list[dict] | None = None,
          stopped: str = "") -> dict:
    """The whole report around the run entries; a partial one (`complete` False) also says
    which runs it lacks (`missing`: scenario, variant, repeat) and why (`stopped`)."""
    mlx = next((e["environment"].get("mlx_version") for e in entries
                if e["environment"].get("mlx_version")), None)
    return {"schema": SCHEMA, "mlxprobe_version": __version__, "mlx_version": mlx,
            "python": platform.python_version(), "platform": platform.platform(),
            "machine": platform.machine(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                     time.gmtime()),
            "complete": complete, "fingerprint": fingerprint.of_entries(entries),
            **({} if complete else {"missing": missing or [], "stopped": stopped}),
            "runs": entries}


def run_key(spec: RunSpec) -> dict:
    """How a partial report names a run it lacks."""
    return {"scenario": spec.scenario_id, "variant": spec.variant, "repeat": spec.repeat}


def dumps(report: dict) -> str:
    """Indented JSON, but each flat list (the per-step series) on one line: compact."""
    text = json.dumps(report, indent=1, allow_nan=False)
    return FLAT_LIST.sub(lambda m: re.sub(r"\n\s*", "", m.group(0)), text)


def write(path: Path, report: dict) -> None:
    """Write atomically: readers see the old file or the whole new one, never half."""
    textfile.write(Path(path), dumps(report))


def load(path: Path) -> dict:
    """Read a report; UsageError (one line) for missing, corrupt, foreign or newer files."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read report {path}: {exc.strerror or exc}") from exc
    try:
        report = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not a JSON report (not UTF-8 text at byte "
                         f"{exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); "
                         "was it truncated? re-run `mlxprobe run --json`") from exc
    except (ValueError, RecursionError) as exc:  # nesting too deep, huge numbers
        raise UsageError(f"{path} is not an mlxprobe report ({type(exc).__name__})") from exc
    return _checked(path, report)


def _checked(path: Path, report: object) -> dict:
    if not isinstance(report, dict) or "schema" not in report or "runs" not in report:
        raise UsageError(f"{path} is not an mlxprobe report (no schema/runs keys)")
    schema = report["schema"]
    if not isinstance(schema, int) or schema > SCHEMA:
        raise UsageError(f"{path} has report schema {schema!r}, newer than this mlxprobe "
                         f"reads ({SCHEMA}); upgrade mlxprobe")
    if schema < 1 or not isinstance(report["runs"], list):
        raise UsageError(f"{path} has an unknown report layout (schema {schema!r})")
    for i, run in enumerate(report["runs"]):
        missing = [k for k in RUN_KEYS if not isinstance(run, dict) or k not in run]
        if missing:
            raise UsageError(f"{path} is not an mlxprobe report: run {i} lacks "
                             f"{', '.join(missing)}")
    return report
