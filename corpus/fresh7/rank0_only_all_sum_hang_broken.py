"""Data-parallel MLP regression on 2 local ranks (MLX ring backend), launched from this file."""
import ctypes
import json
import os
import signal
import socket
import sys
import tempfile
import multiprocessing as mp

import numpy as np

WORLD = 2
EPOCHS = 6


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank, hostfile):
    # do not outlive the launcher
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)
    os.environ["MLX_RANK"] = str(rank)
    os.environ["MLX_HOSTFILE"] = hostfile
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    from mlx.nn.utils import average_gradients

    group = mx.distributed.init(backend="ring", strict=True)
    rank, size = group.rank(), group.size()
    rng = np.random.default_rng(100 + rank)
    X = rng.normal(0, 1, (1024, 8)).astype(np.float32)
    Y = (X[:, :1] * 2.0 - X[:, 1:2] ** 2 + 0.1 * rng.normal(0, 1, (1024, 1))).astype(np.float32)
    X, Y = mx.array(X), mx.array(Y)

    mx.random.seed(0)
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 1))
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.05, momentum=0.9)

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    vg = nn.value_and_grad(model, loss_fn)
    num_batches = X.shape[0] // 64
    for epoch in range(EPOCHS):
        epoch_loss = mx.array(0.0)
        for b in range(num_batches):
            xb, yb = X[b * 64:(b + 1) * 64], Y[b * 64:(b + 1) * 64]
            loss, grads = vg(model, xb, yb)
            grads = average_gradients(grads, group=group)
            opt.update(model, grads)
            epoch_loss = epoch_loss + loss
            mx.eval(model.parameters(), opt.state, epoch_loss)
        avg = mx.distributed.all_sum(epoch_loss, group=group) / (num_batches * size)
        if rank == 0:
            print(f"Epoch {epoch + 1}, Loss: {avg.item():.4f}", flush=True)
    print(f"rank {rank} finished", flush=True)


if __name__ == "__main__":
    tmp = tempfile.mkdtemp()
    hostfile = os.path.join(tmp, "hosts.json")
    with open(hostfile, "w") as f:
        json.dump([[f"127.0.0.1:{free_port()}"] for _ in range(WORLD)], f)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=worker, args=(r, hostfile)) for r in range(WORLD)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    print("all ranks done, exit codes:", [p.exitcode for p in procs])
