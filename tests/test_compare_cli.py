"""`mlxprobe compare` and `mlxprobe gate` on the command line: exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import CHILDREN
from test_cli import assert_one_line_usage_error, cli

from mlxprobe.results import fingerprint, report


def write_report(path: Path, **changes: object) -> Path:
    entry = {"scenario": "s", "variant": "fixed", "repeat": 0, "expected": "pass",
             "verdict": "pass", "detail": "", "matched": True, "reason": "fine",
             "metrics": {"step_ms_median": 10.0, "peak_rss_mb": 100.0},
             "environment": {"mlx_version": "0.32.4", "device": "Device(cpu, 0)"}}
    data = {**report.build([entry]), **changes}
    path.write_text(json.dumps(data))
    return path


def test_identical_reports_exit_zero_and_write_outputs(tmp_path: Path) -> None:
    base = write_report(tmp_path / "base.json")
    md, xml = tmp_path / "out" / "summary.md", tmp_path / "out" / "junit.xml"
    done = cli("compare", str(base), str(base), "--markdown", str(md), "--junit", str(xml))
    assert done.returncode == 0, done.stderr
    assert "OK: no regression" in done.stdout
    assert md.read_text().startswith("## mlxprobe compare: OK") and "<testsuite" in xml.read_text()
    piped = cli("compare", str(base), str(base), "--markdown", "-")
    assert piped.stdout == md.read_text() and "OK: no regression" in piped.stderr


def test_newer_schema_is_refused_in_one_line(tmp_path: Path) -> None:
    base = write_report(tmp_path / "base.json")
    newer = write_report(tmp_path / "newer.json", schema=report.SCHEMA + 1)
    assert_one_line_usage_error(cli("compare", str(base), str(newer)), "newer", "upgrade")


def test_truncated_and_missing_reports_are_refused(tmp_path: Path) -> None:
    base = write_report(tmp_path / "base.json")
    truncated = tmp_path / "cut.json"
    truncated.write_text(base.read_text()[:200])
    assert_one_line_usage_error(cli("compare", str(base), str(truncated)), "truncated")
    assert_one_line_usage_error(cli("compare", str(base), str(tmp_path / "nope.json")),
                                "cannot read")


def test_bad_threshold_and_alpha(tmp_path: Path) -> None:
    base = write_report(tmp_path / "base.json")
    assert_one_line_usage_error(cli("compare", str(base), str(base), "--threshold",
                                    "speed=2"), "speed", "step_ms")
    assert_one_line_usage_error(cli("compare", str(base), str(base), "--alpha", "1.5"),
                                "--alpha")


def test_gate_usage_errors_come_before_any_environment_is_built(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert_one_line_usage_error(cli("gate", "--baseline", "mlx==1"), "--candidate")
    assert_one_line_usage_error(cli("gate", "--candidate", "mlx==1", "--baseline", "mlx==2",
                                    "--baseline-report", "x.json"), "not allowed")
    assert_one_line_usage_error(cli("gate", "--candidate", "mlx==1", "--baseline-report",
                                    str(tmp_path / "missing.json"), "--cache-dir",
                                    str(cache)), "cannot read")
    assert_one_line_usage_error(cli("gate", "--candidate", "mlx==1", "--baseline", "mlx==2",
                                    "--threshold", "loss=0.5", "--cache-dir", str(cache)),
                                "RATIO")
    assert not cache.exists()


def test_run_json_into_a_folder_names_the_file_by_fingerprint(tmp_path: Path) -> None:
    done = cli("run", "--scenarios", str(CHILDREN), "--scenario", "plain", "--variant", "ok",
               "--json", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [written] = list(tmp_path.glob("*.json"))
    data = report.load(written)
    assert written.name == fingerprint.baseline_name(data["fingerprint"])
    assert written.name.startswith(data["fingerprint"]["name"] + "-mlx")
    assert set(data["fingerprint"]) >= {"mlx_version", "python", "os", "machine", "device"}


def test_compare_and_gate_load_without_mlx(tmp_path: Path) -> None:
    base = write_report(tmp_path / "base.json")
    code = ("import sys; from mlxprobe.cli import main; "
            f"assert main(['compare', {str(base)!r}, {str(base)!r}]) == 0; "
            "import mlxprobe.commands.gate, mlxprobe.gating.environments; "
            "assert 'mlx' not in sys.modules, 'mlx was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
