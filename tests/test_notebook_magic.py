"""`%load_ext mlxprobe` in a real Jupyter kernel (jupyter_client, ipykernel): `%%mlxprobe`
cells of the QLoRA notebook modelled on the source report get their verdict block both ways
(broken: crash:RuntimeError, fixed: pass, an HTML table); a cell stuck waiting on a dead
loader thread shows the watcher's diagnosis in its own output while it runs, the kernel's
interrupt still stops it, and the kernel lives on; `%mlxprobe on` watches a plain cell.
Cost: one kernel, ~30-50 s on 2 cores; real MLX."""

from __future__ import annotations

import os
import queue
import sys
import time
from pathlib import Path

from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "notebooks"))
import build  # noqa: E402  (examples/notebooks/build.py)

SETUP = build.QLORA_SETUP.format(nn="import mlx.nn as nn\n", loss="notebook_loss, shifted_loss")
BROKEN = "%%mlxprobe\n" + build.QLORA_LOOP.format(grad="mx.value_and_grad(notebook_loss)")
FIXED = "%%mlxprobe\n" + build.QLORA_LOOP.format(grad="nn.value_and_grad(model, shifted_loss)")
STUCK = """%%mlxprobe
import queue, threading
batches_q = queue.Queue()
def loader():
    raise ValueError("cannot reshape a ragged batch")  # the thread dies, nothing is queued
threading.Thread(target=loader, daemon=True).start()
for n in range(1, 101):
    input_ids = batches_q.get()
"""
PLAIN = """for n, input_ids in zip(range(1, 11), batches(train, BATCH, SEQ, seed=2)):
    loss_val, grads = grad_fn(model, input_ids)
    mx.eval(loss_val)
"""


class Kernel:
    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLXPROBE_")}
        self.km, self.kc = start_new_kernel(kernel_name="python3", env=env)

    def run(self, code: str, interrupt_on: str | None = None, timeout: float = 300) -> dict:
        """The cell's streams, display bundles and error; interrupts the kernel once
        `interrupt_on` appears in its output."""
        msg_id = self.kc.execute(code)
        got: dict = {"text": "", "html": "", "plain": "", "error": None}
        end = time.monotonic() + timeout
        while True:
            assert time.monotonic() < end, got
            try:
                msg = self.kc.get_iopub_msg(timeout=1)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                got["text"] += content["text"]
                if interrupt_on and interrupt_on in got["text"]:
                    self.km.interrupt_kernel()
                    interrupt_on = None
            elif kind == "display_data":
                got["html"] += content["data"].get("text/html", "")
                got["plain"] += content["data"].get("text/plain", "")
            elif kind == "error":
                got["error"] = content["ename"]
            elif kind == "status" and content["execution_state"] == "idle":
                return got

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def test_magics_in_a_real_kernel() -> None:
    kernel = Kernel()
    try:
        loaded = kernel.run("%load_ext mlxprobe\n%mlxprobe status")
        assert "watcher" in loaded["text"] and "running" in loaded["text"], loaded
        assert kernel.run(SETUP)["error"] is None

        broken = kernel.run(BROKEN)
        assert broken["error"] == "RuntimeError"
        assert "mlxprobe verdict: crash:RuntimeError" in broken["plain"], broken

        fixed = kernel.run(FIXED)
        assert fixed["error"] is None and "Step 40: loss" in fixed["text"]
        assert "mlxprobe verdict: pass" in fixed["plain"] and "<table>" in fixed["html"]

        stuck = kernel.run(STUCK, interrupt_on="(the cell runs on")
        assert "has made no progress" in stuck["text"] and "hang:cpu_idle" in stuck["text"]
        assert "Queue.get" in stuck["text"] and "a lock, condition or queue" in stuck["text"]
        assert stuck["error"] == "KeyboardInterrupt"
        assert "mlxprobe verdict: interrupted" in stuck["plain"], stuck

        assert kernel.run("print('alive')")["text"] == "alive\n"
        kernel.run("%mlxprobe on")
        every = kernel.run(PLAIN)
        assert "mlxprobe verdict: pass" in every["plain"] and "mlxprobe steps: 10" in every["plain"]
        folder = kernel.run("print(get_ipython()._mlxprobe_session.folder)")["text"].strip()
        assert Path(folder).is_dir()
    finally:
        kernel.close()
    _gone(Path(folder))  # the watcher removes its session folder once the kernel is gone


def _gone(folder: Path, timeout_s: float = 10.0) -> None:
    end = time.monotonic() + timeout_s
    while folder.exists():
        assert time.monotonic() < end, f"{folder} left behind"
        time.sleep(0.1)
