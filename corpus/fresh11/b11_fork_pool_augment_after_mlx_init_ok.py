"""Regression with per-epoch augmented data: each epoch a small process pool
builds jittered copies of the training shards (MLX ops inside the workers)."""
import multiprocessing as mp
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

D = 12
SHARDS = 4
ROWS = 256


def make_shard(seed):
    mx.random.seed(seed)
    x = mx.random.normal((ROWS, D))
    w = mx.linspace(-1.0, 1.0, D)[:, None]
    y = mx.tanh(x @ w) + 0.05 * mx.random.normal((ROWS, 1))
    x = x + 0.1 * mx.random.normal(x.shape)  # jitter augmentation
    mx.eval(x, y)
    return x.tolist(), y.tolist()


def main():
    mx.random.seed(0)
    model = nn.Sequential(nn.Linear(D, 32), nn.ReLU(), nn.Linear(32, 1))
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.05, momentum=0.9)
    step = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))

    print(f"training on {SHARDS} shards x {ROWS} rows, 2 augmentation workers", flush=True)
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        for epoch in range(1, 7):
            t0 = time.time()
            shards = pool.map(make_shard, [epoch * 100 + s for s in range(SHARDS)])
            losses = []
            for xs, ys in shards:
                x, y = mx.array(xs), mx.array(ys)
                for i in range(0, ROWS, 32):
                    loss, grads = step(model, x[i:i + 32], y[i:i + 32])
                    opt.update(model, grads)
                    mx.eval(model.parameters(), opt.state, loss)
                    losses.append(loss.item())
            print(f"epoch {epoch} mse={sum(losses) / len(losses):.4f} "
                  f"({time.time() - t0:.1f}s)", flush=True)


if __name__ == "__main__":
    main()
