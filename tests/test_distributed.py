"""Distributed jobs: 2 ranks through `mlx.launch` (ring backend, 127.0.0.1), every rank
watched, the rank at fault named; no rank and no launcher left, even when the harness is
SIGKILLed (every process of a run carries the test's marker, leftovers.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from leftovers import carrying, kill_marked, left_after, marked_env, new_mark
from watching import GUARD_S, watch

from mlxprobe.launching import ranks

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
TRAIN = str(ROOT / "examples" / "distributed" / "train.py")  # the README's example


@pytest.fixture
def mark() -> Iterator[str]:
    value = new_mark()
    yield value
    kill_marked(value)


def _run(tmp_path: Path, mark: str, *options: str) -> list[dict]:
    out = tmp_path / "run.json"
    subprocess.run([sys.executable, "-m", "mlxprobe.cli", "run", "--scenarios", str(SCENARIOS),
                    "--jobs", "1", "--json", str(out), *options], capture_output=True,
                   timeout=GUARD_S * 2, env=marked_env(mark))
    return json.loads(out.read_text())["runs"]


def test_broken_scenarios_name_the_rank_at_fault(tmp_path, mark):
    runs = _run(tmp_path, mark, "--variant", "broken", "--scenario", "rank-skips-allreduce",
                "--scenario", "rank-exits-early", "--scenario", "unsynced-init")
    assert left_after(mark, wait_s=5.0) == []
    by_id = {r["scenario"]: r for r in runs}
    skip = by_id["rank-skips-allreduce"]
    assert (skip["verdict"], skip["detail"]) == ("hang", "collective")
    assert "rank 1 skipped one at step 3" in skip["reason"]
    found = skip["evidence"]["collective_mismatch"]
    assert found["culprits"] == [1] and found["step"] == 3
    for rank in ("0", "1"):  # both block inside an evaluation, main thread waiting
        info = skip["evidence"]["ranks"][rank]
        assert info["in_eval"] and info["cpu"]["main_cores"] < 0.5
        assert "Main thread" in info["python_stack"]
    early = by_id["rank-exits-early"]
    assert (early["verdict"], early["detail"]) == ("hang", "collective")  # as under NCCL
    assert early["reason"].startswith("rank 1 finished its loop after step 30 having issued "
                                      "30 collectives; rank 0 issued collective #31")
    assert "raised RuntimeError: [ring] connection to a peer was lost" in early["reason"]
    assert early["evidence"]["ranks"]["1"]["last_step"] == 30
    unsynced = by_id["unsynced-init"]
    assert unsynced["verdict"] == "wrong_result" and "on ranks 0, 1" in unsynced["reason"]


def test_watch_of_a_users_two_rank_script_names_the_culprit(tmp_path, mark):
    done, entry = watch(tmp_path, sys.executable, TRAIN, "--skip-at", "3",
                        options=("--ranks", "2", "--step-floor", "3"), mark=mark)
    assert left_after(mark, wait_s=5.0) == []
    assert (entry["verdict"], entry["detail"]) == ("hang", "collective"), entry["reason"]
    # the bootstrap's steps count the set-up `mx.eval` too: the loop's step 3 is its step 4
    assert "rank 1 skipped one at step 4" in entry["reason"]
    assert set(entry["evidence"]["ranks"]) == {"0", "1"}
    assert b"rank 1 step 3 loss" in done.stdout  # the program's own output reaches the user


def test_watch_of_mlx_launch_in_the_command_passes_a_clean_job(tmp_path, mark):
    launcher = [sys.executable, "-c", ranks.LAUNCHER_CODE, *ranks.launcher_args(2, "ring"),
                "--", sys.executable, TRAIN, "--steps", "12"]
    done, entry = watch(tmp_path, *launcher, mark=mark)
    assert left_after(mark, wait_s=5.0) == []
    assert entry["verdict"] == "pass", entry["reason"]
    assert b"rank 1 mean validation loss" in done.stdout


@pytest.mark.parametrize("command", ["run", "watch"])
def test_no_rank_or_launcher_survives_a_killed_harness(tmp_path, mark, command):
    if command == "run":
        argv = ["run", "--scenarios", str(SCENARIOS), "--scenario", "rank-skips-allreduce",
                "--variant", "broken", "--step-floor", "60"]
    else:
        argv = ["watch", "--ranks", "2", "--", sys.executable, TRAIN, "--skip-at", "3"]
    harness = subprocess.Popen([sys.executable, "-m", "mlxprobe.cli", *argv],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=marked_env(mark, tmp_path))
    _wait_for_ranks(mark, 2)
    harness.kill()
    harness.wait(timeout=GUARD_S)
    assert left_after(mark, wait_s=10.0) == []


def _wait_for_ranks(mark: str, count: int) -> None:
    """Until `count` marked processes have MLX_RANK (the ranks) and a second has passed."""
    end = time.monotonic() + GUARD_S
    while time.monotonic() < end:
        found = 0
        for pid in carrying(mark):
            try:
                found += "MLX_RANK" in psutil.Process(pid).environ()
            except psutil.Error:
                continue
        if found >= count:
            time.sleep(1.0)
            return
        time.sleep(0.1)
    raise AssertionError("the ranks never started")


def test_ranks_that_cannot_start_are_a_crash_though_mlx_launch_exits_0(tmp_path, mark):
    script = tmp_path / "train.py"  # not executable: each rank's `exec` fails with 126/127
    script.write_text("print('never')\n")
    launcher = [sys.executable, "-c", ranks.LAUNCHER_CODE, *ranks.launcher_args(2, "ring"),
                "--", str(script)]
    done, entry = watch(tmp_path, *launcher, mark=mark)
    assert left_after(mark, wait_s=5.0) == []
    assert entry["metrics"]["exit_code"] == 0  # the launcher's own
    assert entry["verdict"] == "crash" and entry["detail"].startswith("rank_"), entry["reason"]
    assert "no error record" in entry["reason"]
