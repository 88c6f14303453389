# Linear-probe fine-tune of a frozen feature encoder, trainer loop modelled on
# mlx_lm.tuner.trainer (compiled step, gradient accumulation, val every N iters).
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.nn.utils import average_gradients


class Probe(nn.Module):
    def __init__(self, d_in=8, d_feat=32):
        super().__init__()
        self.encoder = nn.Linear(d_in, d_feat)
        self.head = nn.Linear(d_feat, 1)

    def __call__(self, x):
        return self.head(mx.tanh(self.encoder(x))).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


class TrainingArgs:
    iters = 20000
    batch_size = 64
    gradient_accumulation_steps = 1
    steps_per_report = 1000
    steps_per_eval = 5000
    learning_rate = 0.4


def make_data(n, seed):
    mx.random.seed(seed)
    x = mx.random.normal((n, 8))
    w = mx.array([0.8, -0.5, 0.3, 0.0, 0.6, -0.2, 0.1, 0.4])
    y = mx.sin(x @ w) + 0.05 * mx.random.normal((n,))
    return x, y


def iterate_batches(x, y, batch_size):
    n = x.shape[0]
    while True:
        perm = mx.random.permutation(n)
        for s in range(0, n - batch_size + 1, batch_size):
            idx = perm[s:s + batch_size]
            yield x[idx], y[idx]


def train(model, optimizer, train_set, val_set, args=TrainingArgs()):
    print(f"Starting training..., iters: {args.iters}")
    loss_value_and_grad = nn.value_and_grad(model, loss_fn)
    state = [model.state, optimizer.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        lvalue, grad = loss_value_and_grad(model, xb, yb)

        if (it + 1) % args.gradient_accumulation_steps == 0:
            # All reduce the gradients if running in distributed mode
            grad = average_gradients(grad)
            # Model update
            optimizer.update(model, grad)

        return lvalue / args.gradient_accumulation_steps

    losses, steps, tic = 0.0, 0, time.perf_counter()
    batches = iterate_batches(*train_set, args.batch_size)
    for it in range(1, args.iters + 1):
        if it == 1 or it % args.steps_per_eval == 0 or it == args.iters:
            val_loss = loss_fn(model, *val_set).item()
            print(f"Iter {it}: Val loss {val_loss:.3f}", flush=True)
        xb, yb = next(batches)
        lvalue = step(xb, yb)
        mx.eval(state, lvalue)
        losses += lvalue.item()
        steps += 1
        if it % args.steps_per_report == 0 or it == args.iters:
            it_sec = args.steps_per_report / (time.perf_counter() - tic)
            print(f"Iter {it}: Train loss {losses / steps:.3f}, "
                  f"Learning Rate {optimizer.learning_rate.item():.3e}, It/sec {it_sec:.2f}",
                  flush=True)
            losses, steps, tic = 0.0, 0, time.perf_counter()


if __name__ == "__main__":
    mx.random.seed(0)
    model = Probe()
    model.freeze()
    model.head.unfreeze()
    n_tr = sum(v.size for _, v in __import__("mlx.utils").utils.tree_flatten(model.trainable_parameters()))
    print(f"Trainable parameters: {n_tr}")
    optimizer = optim.SGD(learning_rate=TrainingArgs.learning_rate)
    train_set = make_data(2048, 1)
    val_set = make_data(512, 2)
    train(model, optimizer, train_set, val_set)
    print("Done.")
