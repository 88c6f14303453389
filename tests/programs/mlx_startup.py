"""An MLX training script's start-up, for `watch` tests: blocked, or compiling kernels.

    python mlx_startup.py [--start spawn|fork]    # builds its model, then waits for data
        from worker processes that wait themselves (a Queue nobody fills): never a step
    python mlx_startup.py --jit N                 # its first evaluation runs N distinct
        mx.compile'd element-wise kernels: with a cold kernel cache (TMPDIR empty), MLX's
        CPU backend runs g++ N times before the first step returns; then 5 steps
"""

from __future__ import annotations

import argparse
import multiprocessing as mp

import mlx.core as mx
import mlx.nn as nn


def load_shard(tasks, results) -> None:  # noqa: ANN001
    index = tasks.get()  # never sent: asleep in a pipe read
    results.put(index)


def kernel(k: int):  # noqa: ANN201
    return mx.compile(lambda x: mx.tanh(x * (k + 1) + 1.0) * mx.exp(-x * x) - mx.sin(x + k))


def jit(kernels: int) -> None:
    x = mx.random.normal((4096,))
    outputs = [kernel(k)(x[: 4096 - k]) for k in range(kernels)]  # distinct shapes
    mx.eval(outputs)  # the first evaluation: every kernel compiled (cold cache: g++)
    model = nn.Linear(8, 1)
    for step in range(1, 6):
        loss = mx.mean(model(mx.ones((4, 8))) ** 2)
        mx.eval(loss)
        print(f"step {step} loss {loss.item():.4f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--start", default="spawn", choices=("spawn", "fork", "forkserver"))
    parser.add_argument("--jit", type=int, default=0, metavar="N")
    args = parser.parse_args()
    if args.jit:
        jit(args.jit)
        return
    model = nn.Linear(8, 1)  # not evaluated yet: the bootstrap counts evaluations as steps
    print("model ready; loading data", flush=True)
    ctx = mp.get_context(args.start)
    tasks, results = ctx.Queue(), ctx.Queue()
    workers = [ctx.Process(target=load_shard, args=(tasks, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    batch = results.get()  # the workers never answer
    loss = mx.mean(model(mx.full((1, 8), float(batch))) ** 2)
    print("step 1 loss", loss.item(), flush=True)


if __name__ == "__main__":
    main()
