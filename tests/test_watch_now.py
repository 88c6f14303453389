"""`watch`'s "what is it doing now": SIGUSR1 to the mlxprobe process prints a live
diagnosis of the program and the run goes on to its own verdict. Cost: one healthy plain
script under watch, ~10-20 s on the 2-core CI machine; real MLX."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "plain" / "prefetch_deadlock.py"


def test_sigusr1_prints_the_live_diagnosis_without_ending_the_run(tmp_path) -> None:
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLXPROBE_")}
    with open(out, "w") as o, open(err, "w") as e:
        watch = subprocess.Popen([sys.executable, "-m", "mlxprobe.cli", "watch", "--no-status",
                                  "--", sys.executable, str(SCRIPT), "fixed"],
                                 stdout=o, stderr=e, env=env)
    try:
        end = time.monotonic() + 180
        while "step 20 " not in out.read_text():
            assert watch.poll() is None and time.monotonic() < end, err.read_text()
            time.sleep(0.2)
        watch.send_signal(signal.SIGUSR1)
        assert watch.wait(timeout=300) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    said = err.read_text()
    assert "mlxprobe: now: progressing" in said and "steps/s" in said, said
    assert "train (" in said  # the main thread's Python stack
    printed = out.read_text()
    assert "step 500 " in printed and ": pass" in printed
