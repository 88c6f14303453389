"""A real data-parallel MLX loop (the README's distributed example; `watch` tests): every
rank (mlx.launch) fits its own shard of a linear regression, gradients averaged with
`nn.average_gradients` (one `all_sum` per step), then the ranks `all_sum` their validation
losses. No mlxprobe in it.

--steps N; --skip-at S: rank 1 alone skips the averaging at step S (its "local check" says
so), so its collectives pair with rank 0's of other steps from then on and the final
`all_sum` of a scalar meets rank 0's last gradient `all_sum`: both block.
"""

import argparse

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=8)
parser.add_argument("--skip-at", type=int, default=0)
args = parser.parse_args()

group = mx.distributed.init()
rank = group.rank()
mx.random.seed(0)
model = nn.Linear(8, 1)
optimizer = optim.SGD(learning_rate=0.05)
mx.random.seed(1 + rank)  # each rank's own shard
x = mx.random.normal((64, 8))
y = x @ mx.arange(8, dtype=mx.float32).reshape(8, 1) / 8
mx.eval(model.parameters(), x, y)


def loss_fn(m, a, b):
    return ((m(a) - b) ** 2).mean()


loss_and_grad = nn.value_and_grad(model, loss_fn)
for step in range(1, args.steps + 1):
    loss, grads = loss_and_grad(model, x, y)
    if not (rank == 1 and step == args.skip_at):  # BUG when --skip-at: a local decision
        grads = nn.average_gradients(grads)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    print(f"rank {rank} step {step} loss {loss.item():.4f}", flush=True)
total = mx.distributed.all_sum(loss_fn(model, x, y))
mx.eval(total)
print(f"rank {rank} mean validation loss {total.item() / group.size():.4f}", flush=True)
