"""The environment fingerprint of a report: which mlx, python, OS, machine and device ran it.

Job: build the fingerprint from the run entries (the child reports mlx version, device and
python in its start record), name it (`linux-x86_64-cpu`, the baseline file
`linux-x86_64-cpu-mlx0.32.4.json`), and say how two fingerprints differ, so `compare` can warn
that timings from different machines are not comparable.

Must not import: mlx, the runner.
"""

from __future__ import annotations

import platform
import re
from pathlib import Path

KEYS = ("mlx_version", "python", "os", "machine", "device")
HOST_KEYS = ("os", "machine", "device")  # timings across these differences mean nothing


def of_entries(entries: list[dict]) -> dict:
    """The fingerprint of this host and of the mlx the entries' children ran."""
    seen = [e.get("environment") or {} for e in entries]
    mlx = _first(seen, "mlx_version")
    device = device_kind(_first(seen, "device"))
    fp = {"mlx_version": mlx, "python": _first(seen, "python") or platform.python_version(),
          "os": platform.system().lower(), "machine": platform.machine().lower(),
          "device": device}
    return {**fp, "name": name(fp)}


def _first(environments: list[dict], key: str) -> str | None:
    return next((str(env[key]) for env in environments if env.get(key)), None)


def device_kind(text: str | None) -> str:
    """"Device(cpu, 0)" -> "cpu", "Device(gpu, 0)" -> "gpu", anything else -> "unknown"."""
    found = re.search(r"\b(cpu|gpu)\b", text or "")
    return found.group(1) if found else "unknown"


def name(fp: dict) -> str:
    """The host part: `linux-x86_64-cpu`."""
    return "-".join(_slug(fp.get(k)) for k in HOST_KEYS)


def baseline_name(fp: dict) -> str:
    """The file name a baseline of this fingerprint is kept under."""
    return f"{name(fp)}-mlx{_slug(fp.get('mlx_version'))}.json"


def _slug(value: object) -> str:
    return re.sub(r"[^A-Za-z0-9._+]+", "_", str(value or "unknown"))


def of_report(report: dict) -> dict:
    """A report's fingerprint; rebuilt from its top-level fields for reports that lack one."""
    if isinstance(report.get("fingerprint"), dict):
        return report["fingerprint"]
    environments = [r.get("environment") or {} for r in report.get("runs", [])]
    fp = {"mlx_version": report.get("mlx_version"), "python": report.get("python"),
          "os": str(report.get("platform", "")).split("-")[0].lower() or None,
          "machine": report.get("machine"), "device": device_kind(_first(environments,
                                                                          "device"))}
    return {**fp, "name": name(fp)}


def differences(base: dict, head: dict, keys: tuple[str, ...] = KEYS) -> dict:
    """{key: (base value, head value)} for the keys that differ."""
    return {k: (base.get(k), head.get(k)) for k in keys if base.get(k) != head.get(k)}


def report_path(path: Path, report: dict) -> Path:
    """`path` itself, or, when it is an existing folder, the baseline file inside it."""
    path = Path(path)
    return path / baseline_name(of_report(report)) if path.is_dir() else path
