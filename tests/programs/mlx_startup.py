"""An MLX training script whose start-up never ends: it builds its model, then waits for data
from worker processes that wait themselves (a Queue nobody fills). For `watch` tests.

    python mlx_startup.py [--start spawn|fork]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp

import mlx.core as mx
import mlx.nn as nn


def load_shard(tasks, results) -> None:  # noqa: ANN001
    index = tasks.get()  # never sent: asleep in a pipe read
    results.put(index)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--start", default="spawn", choices=("spawn", "fork", "forkserver"))
    args = parser.parse_args()
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
