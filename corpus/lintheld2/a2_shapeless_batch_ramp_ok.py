"""Linear-probe training with a batch-size ramp, one shapeless compiled step for all sizes."""
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

D = 32


def batch_schedule(total_steps, stages=((20, 8), (20, 32))):
    """Small batches first, then the full batch of 128 for the rest."""
    for n, bs in stages:
        yield from [bs] * n
        total_steps -= n
    yield from [128] * total_steps


def main(total_steps=120):
    mx.random.seed(0)
    w_true = mx.random.normal((D, 1))
    x_all = mx.random.normal((8192, D))
    y_all = x_all @ w_true + 0.05 * mx.random.normal((8192, 1))
    x_val, y_val = x_all[-1024:], y_all[-1024:]

    probe = nn.Linear(D, 1)
    opt = optim.SGD(learning_rate=0.08)

    def sq_err(model, x, y):
        diff = model(x) - y
        return (diff * diff).mean(axis=0).sum()

    loss_and_grad = nn.value_and_grad(probe, sq_err)
    state = [probe.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state, shapeless=True)
    def train_step(x, y):
        loss, grads = loss_and_grad(probe, x, y)
        opt.update(probe, grads)
        return loss

    cursor = 0
    for step, bs in enumerate(batch_schedule(total_steps)):
        x, y = x_all[cursor : cursor + bs], y_all[cursor : cursor + bs]
        cursor = (cursor + bs) % 6000
        loss = train_step(x, y)
        mx.eval(state)
        if step % 20 == 0 or step == total_steps - 1:
            val = nn.losses.mse_loss(probe(x_val), y_val).item()
            print(f"step {step:3d} bs {bs:3d} train loss {loss.item():10.4f} val mse {val:.4g}")


if __name__ == "__main__":
    main()
