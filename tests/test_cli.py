"""The CLI end to end: list, run, exit codes, one-line errors, reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CHILDREN

from mlxprobe.errors import UsageError
from mlxprobe.results import report


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlxprobe.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def assert_one_line_usage_error(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlxprobe: error:"), done.stderr
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in lines[0]


def test_list_shows_bundled_scenarios_without_mlx() -> None:
    code = ("import sys; from mlxprobe.cli import main; main(['list']); "
            "assert 'mlx' not in sys.modules, 'mlx was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "step2-hang" in done.stdout and "broken=hang:cpu_busy" in done.stdout


def test_unknown_scenario_names_close_matches() -> None:
    assert_one_line_usage_error(cli("run", "--scenario", "step2-hnag"), "step2-hang")


def test_unknown_variant() -> None:
    done = cli("run", "--scenarios", str(CHILDREN), "--scenario", "plain", "--variant", "nope")
    assert_one_line_usage_error(done, "nope", "ok")


@pytest.mark.parametrize("flag", ["--step-floor=-1", "--budget=0", "--max-memory=abc"])
def test_bad_numbers(flag: str) -> None:
    assert_one_line_usage_error(cli("run", "--all", flag), flag.split("=")[0])


def test_bad_flag() -> None:
    assert_one_line_usage_error(cli("run", "--all", "--frobnicate"), "--frobnicate")


def test_missing_scenario_folder(tmp_path: Path) -> None:
    assert_one_line_usage_error(cli("list", "--scenarios", str(tmp_path / "nope")), "nope")


def test_syntax_error_in_user_scenario(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("SCENARIO = {\n")
    assert_one_line_usage_error(cli("list", "--scenarios", str(tmp_path)), "bad.py")


def test_run_writes_report_and_exit_zero_when_all_match(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    done = cli("run", "--scenarios", str(CHILDREN), "--scenario", "plain", "--variant", "ok",
               "--json", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    data = report.load(out)
    run = data["runs"][0]
    assert data["schema"] == 1 and data["complete"] is True
    assert run["verdict"] == "pass" and run["matched"] is True
    assert run["metrics"]["steps"] == 50 and run["metrics"]["peak_rss_mb"] > 0
    assert len(run["series"]["loss"]) == 50
    assert "plain" in done.stdout and "1/1 verdicts matched" in done.stdout


def test_mismatch_exits_one_and_shows_details(tmp_path: Path) -> None:
    user = tmp_path / "user_scenarios"
    user.mkdir()
    text = (CHILDREN / "plain.py").read_text().replace('"ok": "pass"', '"ok": "leak"')
    (user / "plain.py").write_text(text)
    done = cli("run", "--scenarios", str(user), "--scenario", "plain", "--variant", "ok")
    assert done.returncode == 1
    assert "expected leak, got pass" in done.stdout


def test_report_loader_refuses_bad_files(tmp_path: Path) -> None:
    cases = {"trunc.json": '{"schema": 1, "runs": [', "foreign.json": '{"a": 1}',
             "newer.json": json.dumps({"schema": 99, "runs": []})}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(UsageError):
            report.load(tmp_path / name)
    with pytest.raises(UsageError, match="cannot read"):
        report.load(tmp_path / "missing.json")


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    report.write(path, report.build([]))
    report.write(path, report.build([]))
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
