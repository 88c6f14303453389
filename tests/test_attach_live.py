"""`mlxprobe attach` on running `examples/plain` scripts started without mlxprobe: a healthy
loop is `progressing` with its rate, and its printed losses are identical to an unattached
run's (sampling never changes it); a loop whose data thread died is `hang:cpu_idle`; step2's
lazy backlog is `hang:cpu_busy`; each with Python and native stacks.

Cost: ~20-40 s on the 2-core CI machine (the three runs of the first test are concurrent;
step2's backlog is the second test's), real MLX, no mocks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from mlxprobe import cli

ROOT = Path(__file__).resolve().parents[1]
PLAIN = ROOT / "examples" / "plain"
START_S = 180.0  # a cold first step compiles kernels with g++: seconds to minutes when loaded
HEALTHY_STEPS = "1500"  # 151 loss lines (one every 10 steps, and the first)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith("MLXPROBE_") or k == "MLXPROBE_CACHE"}


@pytest.fixture
def started(tmp_path: Path):
    procs: list[subprocess.Popen] = []

    def start(script: str, variant: str, **env: str) -> tuple[subprocess.Popen, Path]:
        log = tmp_path / f"{script}-{variant}-{len(procs)}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen([sys.executable, str(PLAIN / f"{script}.py"), variant],
                                    stdout=out, stderr=subprocess.STDOUT,
                                    env={**_env(), **env})
        procs.append(proc)
        return proc, log

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def wait_for(check, what: str, timeout: float = START_S) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.2)


def attach(pid: int, report: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mlxprobe.cli", "attach", str(pid),
                             "--json", str(report), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finished(proc: subprocess.Popen, report: Path) -> tuple[int, dict, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, json.loads(report.read_text())["runs"][0], out + err


def losses(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.startswith("step ")]


def test_healthy_loop_progresses_undisturbed_and_a_dead_loader_hangs_idle(started,
                                                                         tmp_path) -> None:
    # long enough that the healthy loop is still running when the 4 s look takes its stacks
    # (500 steps ended inside that window once on a quiet host: no native stack, stop 57)
    healthy, healthy_log = started("prefetch_deadlock", "fixed", PREFETCH_STEPS=HEALTHY_STEPS)
    alone, alone_log = started("prefetch_deadlock", "fixed", PREFETCH_STEPS=HEALTHY_STEPS)
    stuck, stuck_log = started("prefetch_deadlock", "broken")
    wait_for(lambda: "step 10 " in healthy_log.read_text(), "the healthy loop's step 10")
    looking = attach(healthy.pid, tmp_path / "healthy.json", "--for", "4s")
    wait_for(lambda: "ValueError" in stuck_log.read_text(), "the loader thread's death")
    looking_stuck = attach(stuck.pid, tmp_path / "stuck.json", "--for", "7s")

    code, run, text = finished(looking, tmp_path / "healthy.json")
    assert code == 0 and run["verdict"] == "progressing", text
    assert run["evidence"]["progress"]["per_s"] > 0 and "steps/s" in run["reason"]
    assert "train (" in run["stacks"]["python"] and "MainThread" in run["stacks"]["native"]
    assert run["environment"]["mlx_version"] == metadata.version("mlx")
    assert cli.main(["report", str(tmp_path / "healthy.json")]) == 0  # the reporters read it

    code, run, text = finished(looking_stuck, tmp_path / "stuck.json")
    assert code == 1 and (run["verdict"], run["detail"]) == ("hang", "cpu_idle"), text
    assert "a lock, condition or queue" in run["reason"] and run["evidence"]["steps"] == 39
    assert "Queue.get" in run["stacks"]["python"] and run["hint"]

    for proc in (healthy, alone):
        assert proc.wait(timeout=START_S) == 0
    assert losses(healthy_log) == losses(alone_log) and len(losses(healthy_log)) == 151


def test_step2_backlog_is_computing_without_progress(started, tmp_path) -> None:
    proc, _ = started("step2_hang", "broken")

    def in_backlog() -> bool:  # line 27: the first `loss.item()`, which runs the backlog
        dump = subprocess.run(["py-spy", "dump", "--nonblocking", "--pid", str(proc.pid)],
                              capture_output=True, text=True)
        return "step2_hang.py:27" in dump.stdout

    wait_for(in_backlog, "step2's backlog eval")
    code, run, text = finished(attach(proc.pid, tmp_path / "s2.json", "--for", "7s"),
                               tmp_path / "s2.json")
    assert code == 1 and (run["verdict"], run["detail"]) == ("hang", "cpu_busy"), text
    assert "MLX evaluation" in run["reason"] and "eval_impl" in run["stacks"]["native"]
    assert proc.poll() is None  # still running: attach never ends it


def test_a_native_program_is_judged_on_its_output(tmp_path) -> None:
    """Not Python (py-spy cannot read it): progress from its output file, a stall from that
    output's silence with the CPU idle; native stacks from gdb where it is installed."""
    binary = tmp_path / "native_mlx"
    subprocess.run(["gcc", "-O1", "-o", str(binary), str(ROOT / "tests" / "programs" /
                    "native_mlx.c"), "-ldl"], check=True, timeout=120)
    library = Path(metadata.distribution("mlx").locate_file("mlx/lib/libmlx.so"))
    procs = []
    for variant in ("run", "stall"):
        with open(tmp_path / f"{variant}.log", "w") as out:
            procs.append(subprocess.Popen([str(binary), str(library), variant], stdout=out,
                                          stderr=subprocess.STDOUT))
    try:
        time.sleep(1.0)
        running = attach(procs[0].pid, tmp_path / "run.json", "--for", "4s")
        stalled = attach(procs[1].pid, tmp_path / "stall.json", "--for", "6s")
        code, run, text = finished(running, tmp_path / "run.json")
        assert (code, run["verdict"], run["detail"]) == (0, "progressing", "output"), text
        code, run, text = finished(stalled, tmp_path / "stall.json")
        assert (code, run["verdict"], run["detail"]) == (1, "hang", "cpu_idle"), text
        assert "not a Python process" in run["reason"] and run["evidence"]["steps"] == 5
        if shutil.which("gdb"):
            assert "pause" in run["stacks"]["native"] and "a sleep or a signal" in run["reason"]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
