"""The JSON report: the contract other tools read (schema 1), written atomically.

Job: turn (spec, raw facts, verdict) into a run entry with metrics and compact per-step
series, gather entries into a report, write it atomically (temp file + rename), and load a
report back, refusing unknown schemas and corrupt files with a one-line UsageError.

Shape: {"schema": 1, "mlxprobe_version", "mlx_version", "python", "platform", "created",
"complete", "runs": [{"scenario", "variant", "expected", "verdict", "detail", "matched",
"reason", "hint", "evidence", "metrics": {"steps", "wall_s", "step_ms_median",
"peak_rss_mb", ...}, "series": {...}, "stacks": {...}}]}

Must not import: mlx, the runner.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from . import __version__
from .errors import UsageError
from .facts import RawResult
from .spec import RunSpec
from .stats import even_subsample
from .verdict import MB, Verdict, matches, metric_series, rss_at_steps

SCHEMA = 1
SERIES_POINTS = 400  # per-step series are downsampled to at most this many points


def run_entry(spec: RunSpec, raw: RawResult, verdict: Verdict) -> dict:
    """One run's entry in the report."""
    return {"scenario": spec.scenario_id, "variant": spec.variant, "expected": spec.expected,
            "verdict": verdict.kind, "detail": verdict.detail,
            "matched": matches(verdict, spec.expected), "reason": verdict.reason,
            "hint": verdict.hint, "evidence": _json_safe(verdict.evidence),
            "metrics": metrics(raw), "series": series(raw), "stacks": _stacks(raw),
            "environment": {k: raw.start.get(k) for k in ("mlx_version", "device", "python")}}


def metrics(raw: RawResult) -> dict:
    step_s = [r["step_s"] for r in raw.steps[1:] if isinstance(r.get("step_s"), (int, float))]
    losses = [v for v in metric_series(raw, "loss") if math.isfinite(v)]
    peak_rss = max((s.rss for s in raw.samples), default=0) / MB
    return {"steps": len(raw.steps), "wall_s": round(raw.wall_s, 3),
            "step_ms_median": round(statistics.median(step_s) * 1000, 3) if step_s else None,
            "first_step_ms": _first_step_ms(raw), "peak_rss_mb": round(peak_rss, 1),
            "loss_first": losses[0] if losses else None,
            "loss_last": losses[-1] if losses else None,
            "exit_code": raw.exit_code, "signal": raw.signal}


def _first_step_ms(raw: RawResult) -> float | None:
    steps = raw.steps
    if not steps or not isinstance(steps[0].get("step_s"), (int, float)):
        return None
    return round(steps[0]["step_s"] * 1000, 3)


def series(raw: RawResult) -> dict:
    """Per-step series, downsampled: step, step_ms, loss, rss_mb, mx_active_mb."""
    rss = dict(rss_at_steps(raw))
    rows = []
    for rec in raw.steps:
        step = rec.get("step")
        active = rec.get("memory", {}).get("mx_active")
        rows.append((step, _round(rec.get("step_s"), 1000), _json_number(rec.get("loss")),
                     _round(rss.get(step), 1), _round(active, 1 / MB)))
    rows = even_subsample(rows, SERIES_POINTS)
    names = ("step", "step_ms", "loss", "rss_mb", "mx_active_mb")
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def _round(value: object, scale: float) -> float | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return round(value * scale, 4)


def _json_number(value: object) -> float | str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value if isinstance(value, (int, float, str)) or value is None else None


def _stacks(raw: RawResult) -> dict:
    if raw.stall is None:
        return {}
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


def build(entries: list[dict], complete: bool = True) -> dict:
    """The whole report around the run entries."""
    mlx = next((e["environment"].get("mlx_version") for e in entries
                if e["environment"].get("mlx_version")), None)
    return {"schema": SCHEMA, "mlxprobe_version": __version__, "mlx_version": mlx,
            "python": platform.python_version(), "platform": platform.platform(),
            "machine": platform.machine(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                     time.gmtime()),
            "complete": complete, "runs": entries}


def write(path: Path, report: dict) -> None:
    """Write atomically: readers see the old file or the whole new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=1, allow_nan=False)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> dict:
    """Read a report; UsageError (one line) for missing, corrupt, foreign or newer files."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read report {path}: {exc.strerror or exc}") from exc
    try:
        report = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); "
                         "was it truncated? re-run `mlxprobe run --json`") from exc
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
    return report
