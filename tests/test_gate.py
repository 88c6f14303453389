"""The gate's parts: run order, merging rounds, environment cache keys and setup errors, and
the rounds run for real in an environment (this interpreter) on a plain-Python child."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pytest
from conftest import CHILDREN
from hypothesis import given
from hypothesis import strategies as st

from mlxprobe.commands import gate
from mlxprobe.errors import UsageError
from mlxprobe.gating import comparison, environments, schedule
from mlxprobe.gating.environments import Environment
from mlxprobe.results import fingerprint, report


@given(st.integers(1, 12))
def test_order_alternates_and_balances_positions(rounds: int) -> None:
    order = schedule.order(rounds)
    assert len(order) == 2 * rounds
    assert [r for _, r in order] == sorted(r for _, r in order)  # round by round
    firsts = [order[2 * r][0] for r in range(rounds)]
    assert firsts[::2] == ["base"] * len(firsts[::2]) and "base" not in firsts[1::2]
    # in every two rounds each side runs once first and once second: drift cancels
    assert abs(firsts.count("base") - firsts.count("head")) <= 1


def test_order_of_one_side_is_its_rounds() -> None:
    assert schedule.order(3, ("head",)) == [("head", 0), ("head", 1), ("head", 2)]


def part(mlx: str, *variants: str, complete: bool = True) -> dict:
    runs = [{"scenario": "s", "variant": v, "repeat": 0, "environment": {"mlx_version": mlx}}
            for v in variants]
    return report.build(runs, complete)


def test_combine_numbers_rounds_and_keeps_partial_flag() -> None:
    merged = schedule.combine([part("0.31.2", "a", "b"), part("0.31.2", "a", "b", complete=False)])
    assert [(r["variant"], r["repeat"]) for r in merged["runs"]] == \
        [("a", 0), ("b", 0), ("a", 1), ("b", 1)]
    assert merged["complete"] is False and merged["fingerprint"]["mlx_version"] == "0.31.2"


def test_combine_refuses_mixed_mlx_versions() -> None:
    with pytest.raises(UsageError, match="different mlx versions"):
        schedule.combine([part("0.31.2", "a"), part("0.32.4", "a")])


def test_report_path_names_a_folder_by_fingerprint(tmp_path: Path) -> None:
    data = part("0.32.4", "a")
    data["fingerprint"] = {**data["fingerprint"], "os": "linux", "machine": "x86_64",
                           "device": "cpu"}
    assert fingerprint.report_path(tmp_path, data) == tmp_path / "linux-x86_64-cpu-mlx0.32.4.json"
    assert fingerprint.report_path(tmp_path / "x.json", data) == tmp_path / "x.json"
    assert fingerprint.device_kind("Device(gpu, 0)") == "gpu"
    assert fingerprint.device_kind(None) == "unknown"


def test_requirement_key_is_stable_and_a_local_wheel_counts_by_content(tmp_path: Path) -> None:
    key = environments.requirement_key
    assert key("mlx[cpu]==0.31.2") == key(" mlx[cpu]==0.31.2 ") != key("mlx[cpu]==0.32.4")
    wheel = tmp_path / "mlx-0.0-py3-none-any.whl"
    wheel.write_bytes(b"one")
    first = key(str(wheel))
    wheel.write_bytes(b"two")
    assert key(str(wheel)) != first
    assert environments.install_argument(str(wheel)) == str(wheel.resolve())
    assert environments.install_argument("git+https://example.invalid/mlx") == \
        "git+https://example.invalid/mlx"


def test_the_checkout_is_found_from_the_gating_package() -> None:
    root = Path(__file__).resolve().parent.parent
    assert environments.checkout_root() == root  # the wheel the gate installs is built here


def test_source_stamp_follows_the_files(tmp_path: Path) -> None:
    (tmp_path / "mlxprobe").mkdir()
    (tmp_path / "mlxprobe" / "a.py").write_text("x = 1\n")
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    before = environments.source_stamp(tmp_path)
    (tmp_path / "mlxprobe" / "__pycache__").mkdir()
    (tmp_path / "mlxprobe" / "__pycache__" / "a.pyc").write_bytes(b"junk")
    assert environments.source_stamp(tmp_path) == before
    (tmp_path / "mlxprobe" / "a.py").write_text("x = 2\n")
    assert environments.source_stamp(tmp_path) != before


def test_snapshot_copies_what_the_stamp_covers(tmp_path: Path) -> None:
    root, copy = tmp_path / "root", tmp_path / "copy"
    (root / "mlxprobe" / "__pycache__").mkdir(parents=True)
    (root / "mlxprobe" / "a.py").write_text("x = 1\n")
    (root / "mlxprobe" / "__pycache__" / "a.pyc").write_bytes(b"junk")
    (root / "pyproject.toml").write_text("[project]\n")
    (root / "build").mkdir()
    (root / "build" / "stale.py").write_text("old = True\n")
    copy.mkdir()
    environments._snapshot(root, copy)
    assert environments.source_stamp(copy) == environments.source_stamp(root)
    assert not (copy / "build").exists() and not (copy / "mlxprobe" / "__pycache__").exists()


def test_a_failed_setup_step_is_one_line_naming_the_log(tmp_path: Path) -> None:
    failing = [sys.executable, "-c", "import sys; print('Collecting mlx'); "
               "sys.stderr.write('ERROR: No matching distribution found for mlx==0.0.1\\n'); "
               "sys.exit(1)"]
    with pytest.raises(UsageError) as caught:
        environments._call(failing, "install 'mlx==0.0.1'", tmp_path / "env.log")
    message = str(caught.value)
    assert "\n" not in message and "No matching distribution found for mlx==0.0.1" in message
    assert str(tmp_path / "env.log") in message and "Collecting mlx" in \
        (tmp_path / "env.log").read_text()


def test_environment_runs_never_see_our_pythonpath(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    monkeypatch.setenv("VIRTUAL_ENV", "/some/venv")
    clean = environments.clean_env()
    assert "PYTHONPATH" not in clean and "VIRTUAL_ENV" not in clean and "PATH" in clean


def gate_args(out: Path, **more: object) -> argparse.Namespace:
    values = {"scenario": ["planted"], "variant": "steady", "scenarios": CHILDREN, "out": out,
              "repeat": 2, "keep_reports": out / "kept", "threshold": [], "alpha": 0.05,
              "markdown": None, "junit": None}
    return argparse.Namespace(**{**values, **more})


def this_interpreter() -> Environment:
    """This Python as an 'environment': the rounds run exactly as in a built venv."""
    prefix = Path(sys.prefix)
    assert environments.python_in(prefix).exists(), "needs a bin/python in sys.prefix"
    return Environment("this", prefix, "test", 0.0)


def test_rounds_run_in_the_environment_and_merge_per_side(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    env = this_interpreter()
    args = gate_args(tmp_path / "gate")
    base, head = gate._run_sides(args, {"base": env, "head": env}, None)
    for side in (base, head):
        assert [(r["variant"], r["repeat"], r["verdict"]) for r in side["runs"]] == \
            [("steady", 0, "pass"), ("steady", 1, "pass")]
    parts = sorted(p.name for p in (tmp_path / "gate" / "parts").glob("*.json"))
    assert parts == ["base-1.json", "base-2.json", "head-1.json", "head-2.json"]
    assert report.load(tmp_path / "gate" / "head.json")["runs"] == head["runs"]
    kept = list((tmp_path / "gate" / "kept").glob("*.json"))
    assert [p.name for p in kept] == [fingerprint.baseline_name(head["fingerprint"])]
    log = capsys.readouterr().err
    assert log.index("round 1/2: base") < log.index("round 1/2: head") < \
        log.index("round 2/2: head") < log.index("round 2/2: base")
    assert "planted [steady]" in log
    assert not comparison.compare(base, head).failed


def test_a_round_that_fails_to_run_is_a_usage_error(tmp_path: Path) -> None:
    args = gate_args(tmp_path / "gate", scenario=["no-such-scenario"], repeat=1)
    with pytest.raises(UsageError, match="unknown scenario 'no-such-scenario'"):
        gate._run_sides(args, {"head": this_interpreter()}, None)


def test_round_command_is_one_job_with_absolute_paths(tmp_path: Path) -> None:
    command = gate.run_command(gate_args(tmp_path), this_interpreter(), tmp_path / "x.json")
    assert command[1:4] == ["-m", "mlxprobe.cli", "run"] and "--jobs" in command
    assert command[command.index("--jobs") + 1] == "1"
    assert os.path.isabs(command[command.index("--scenarios") + 1])
