"""Where can 2 ranks run on a machine with fewer GPUs than ranks? (issue 25)

Tries each placement of a 2-rank data-parallel job through `mlx.launch` on 127.0.0.1 and
prints what happened, so the harness's choice (`launching/placement.py`) rests on a
measurement:
- ring-gpu: the ring backend, both ranks on the one GPU (MLX's default device);
- ring-cpu: the ring backend, both ranks on the CPU (`mx.set_default_device(mx.cpu)`);
- nccl-shared: NCCL, both ranks given GPU 0 (CUDA_VISIBLE_DEVICES=0 set before mlx loads).
Each placement runs twice: a whole job (30 steps of a tiny MLP, gradients averaged with
`all_sum`; the parameters compared across ranks), and an uneven one where rank 1 stops after
3 steps (does the survivor error out or wait? given TIMEOUT_S).

    python benchmarks/placement_probe.py            # every placement
    python benchmarks/placement_probe.py ring-cpu   # one

Standard library here; the ranks import mlx.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from mlxprobe.launching import ranks

TIMEOUT_S = 60
MODES = ("ring-gpu", "ring-cpu", "nccl-shared")
WORKER = r'''
import os, sys, time
mode, uneven = os.environ["PROBE_MODE"], os.environ["PROBE_UNEVEN"] == "1"
if mode == "nccl-shared":
    os.environ["CUDA_VISIBLE_DEVICES"] = "0"
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten
if mode == "ring-cpu":
    mx.set_default_device(mx.cpu)
t0 = time.time()
g = mx.distributed.init(strict=True, backend="nccl" if mode.startswith("nccl") else "ring")
rank = g.rank()
mx.random.seed(0)
model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1))
opt = optim.SGD(learning_rate=0.05)
lg = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))
target = mx.random.normal((16, 1), key=mx.random.key(1))
steps = 3 if (uneven and rank == 1) else 30
try:
    for i in range(steps):
        x = mx.random.normal((32, 16), key=mx.random.key(100 * rank + i))
        loss, grads = lg(model, x, x @ target / 4)
        opt.update(model, nn.average_gradients(grads))
        mx.eval(model.parameters(), opt.state, loss)
    flat = mx.concatenate([v.reshape(-1) for _, v in tree_flatten(model.parameters())])
    spread = mx.abs(flat - mx.distributed.all_sum(flat) / g.size()).max().item()
    print(f"rank {rank}: device {mx.default_device()} loss {loss.item():.4f} "
          f"spread {spread:.2e} {time.time() - t0:.2f} s", flush=True)
except Exception as e:
    print(f"rank {rank}: raised {type(e).__name__}: {str(e)[:200]} after "
          f"{time.time() - t0:.2f} s", flush=True)
    raise
'''


def trial(mode: str, uneven: bool) -> None:
    backend = "nccl" if mode.startswith("nccl") else "ring"
    argv = ranks.launch_argv(2, [sys.executable, "-c", WORKER], backend)
    env = {**os.environ, "PROBE_MODE": mode, "PROBE_UNEVEN": "1" if uneven else "0"}
    start = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT_S)
        how = f"exit {proc.returncode}"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, _ = proc.communicate()
        how = f"still running after {TIMEOUT_S} s (killed)"
    wall = time.monotonic() - start
    print(f"== {mode} {'uneven' if uneven else 'even'}: {how}, {wall:.1f} s")
    lines = [ln for ln in out.splitlines() if ln.strip()]
    for line in lines[-8:]:
        print("   " + line[:240])


def main(argv: list[str]) -> None:
    for mode in argv or MODES:
        for uneven in (False, True):
            trial(mode, uneven)


if __name__ == "__main__":
    main(sys.argv[1:])
