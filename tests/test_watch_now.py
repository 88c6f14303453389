"""`watch`'s "what is it doing now": Enter on the terminal, or SIGUSR1 to the mlxprobe
process, prints a live diagnosis of the program and the run goes on to its own verdict.
Cost: one healthy plain script under watch (1,500 steps), ~15-45 s on the 2-core CI
machine; real MLX."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "plain" / "prefetch_deadlock.py"
LOOK = "mlxprobe: now: "
STEPS = 1500  # 500 steps took 4.3 s alone on a faster 2-core machine (stop 49): the run ended
# before the second look


def wait_for(check, proc: subprocess.Popen, what: str, timeout: float = 180) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert proc.poll() is None and time.monotonic() < end, f"no {what}"
        time.sleep(0.2)


def test_enter_and_sigusr1_print_the_live_diagnosis_without_ending_the_run(tmp_path) -> None:
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLXPROBE_")}
    env["PREFETCH_STEPS"] = str(STEPS)  # two looks of up to 6 s each must fit in the run
    keys, terminal = pty.openpty()  # mlxprobe's stdin is a terminal: Enter asks for a look
    with open(out, "w") as o, open(err, "w") as e:
        watch = subprocess.Popen([sys.executable, "-m", "mlxprobe.cli", "watch", "--no-status",
                                  "--", sys.executable, str(SCRIPT), "fixed"],
                                 stdin=terminal, stdout=o, stderr=e, env=env)
    try:
        wait_for(lambda: "step 20 " in out.read_text(), watch, "step 20")
        os.write(keys, b"\n")
        wait_for(lambda: LOOK in err.read_text(), watch, "look after Enter")
        watch.send_signal(signal.SIGUSR1)
        wait_for(lambda: err.read_text().count(LOOK) == 2, watch, "look after SIGUSR1")
        assert watch.wait(timeout=300) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
        os.close(keys)
        os.close(terminal)
    said = err.read_text()
    assert f"{LOOK}progressing" in said and "steps/s" in said, said
    assert "train (" in said  # the main thread's Python stack
    printed = out.read_text()
    assert f"step {STEPS} " in printed and ": pass" in printed
