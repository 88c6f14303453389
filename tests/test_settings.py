"""One table of run settings for `mlxprobe run` and the pytest plugin (launching/settings.py):
the same five options on both sides, None meaning "not given", bad values named."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from mlxprobe import cli
from mlxprobe.commands import running
from mlxprobe.errors import UsageError
from mlxprobe.launching import settings
from mlxprobe.watching.watchdog import BUDGET_S, Deadlines

SLOW = '''import time

SCENARIO = {"id": "slow", "title": "a loop with its own budget", "budget_s": 30,
            "variants": {"main": "pass"}}


def main(probe):
    for i in range(40):
        time.sleep(0.05)
        probe.step(loss=10.0 - 0.2 * i)
'''


def folder_with_slow(tmp_path: Path) -> Path:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "slow.py").write_text(SLOW)
    return folder


def budgets(folder: Path, *flags: str) -> list[float | None]:
    args = cli.build_parser().parse_args(["run", "--all", "--scenarios", str(folder), *flags])
    return [spec.deadlines.budget_s for spec in running.specs_from(args)]


def test_an_explicit_budget_of_600_is_honoured(tmp_path: Path) -> None:
    folder = folder_with_slow(tmp_path)
    assert budgets(folder) == [30.0]  # not given: the scenario's own
    assert budgets(folder, "--budget", "600") == [600.0]  # given, although it is the default
    assert budgets(folder, "--budget", "5") == [5.0]


def test_no_budget_anywhere_is_the_default(tmp_path: Path) -> None:
    folder = folder_with_slow(tmp_path)
    (folder / "slow.py").write_text(SLOW.replace('"budget_s": 30,', ""))
    assert budgets(folder) == [BUDGET_S]


def test_every_setting_reaches_the_deadlines() -> None:
    values = argparse.Namespace(startup_timeout=7.0, step_floor=2.0, step_factor=3.0,
                                budget=600.0, max_memory=512.0)
    assert settings.deadlines_from(values) == (
        Deadlines(startup_s=7.0, step_floor_s=2.0, step_factor=3.0, budget_s=600.0), 512.0)
    nothing = argparse.Namespace(**{s.dest(): None for s in settings.SETTINGS})
    assert settings.deadlines_from(nothing) == (Deadlines(), None)


def test_text_values_are_checked_and_named_with_their_prefix() -> None:
    values = argparse.Namespace(mlxprobe_budget="0", mlxprobe_step_floor="2")
    with pytest.raises(UsageError, match=r"^--mlxprobe-budget: '0' must be a finite number"):
        settings.deadlines_from(values, "mlxprobe-")
    values.mlxprobe_budget = "600"
    deadlines, memory = settings.deadlines_from(values, "mlxprobe-")
    assert (deadlines.budget_s, deadlines.step_floor_s, memory) == (600.0, 2.0, None)


def test_cli_and_plugin_offer_the_same_options() -> None:
    run_help = subprocess.run([sys.executable, "-m", "mlxprobe.cli", "run", "--help"],
                              capture_output=True, text=True, timeout=60).stdout
    done = subprocess.run([sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
                          capture_output=True, text=True, timeout=60)
    for s in settings.SETTINGS:
        assert s.flag("mlxprobe-") in done.stdout and s.flag() in run_help, s.name


def pytest_in(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", str(folder), "-q",
                           "-p", "no:cacheprovider", *args], capture_output=True, text=True,
                          timeout=120, cwd=folder)


@pytest.mark.parametrize("option", ["--mlxprobe-budget=0", "--mlxprobe-startup-timeout=abc",
                                    "--mlxprobe-step-factor=inf"])
def test_plugin_bad_value_is_one_usage_line_naming_the_option(option: str,
                                                              tmp_path: Path) -> None:
    done = pytest_in(folder_with_slow(tmp_path), option)
    assert done.returncode == 4, done.stdout + done.stderr  # pytest's usage error
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ERROR: " + option.split("=")[0] + ":"), \
        done.stderr
    assert "Traceback" not in done.stderr


def test_plugin_budget_is_applied(tmp_path: Path) -> None:
    done = pytest_in(folder_with_slow(tmp_path), "--mlxprobe-budget", "0.5")
    assert done.returncode == 1, done.stdout
    assert "expected pass, got hang" in done.stdout and "budget" in done.stdout
