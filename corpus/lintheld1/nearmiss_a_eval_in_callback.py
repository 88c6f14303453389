"""Keras-style callbacks around an MLX training loop; a callback takes care of materializing state."""
import resource

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class Callback:
    def on_step_end(self, loop, step, loss):
        pass


class Materialize(Callback):
    """Forces the lazy update graph after every step so it never grows."""

    def on_step_end(self, loop, step, loss):
        mx.eval(loop.net.parameters(), loop.opt.state, loss)


class PrintEvery(Callback):
    def __init__(self, every):
        self.every = every

    def on_step_end(self, loop, step, loss):
        if step % self.every == 0:
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            print(f"step {step:5d}  loss {loss.item():.5f}  maxrss {rss} MB", flush=True)


class Loop:
    def __init__(self, net, opt, loss_fn, callbacks=()):
        self.net, self.opt = net, opt
        self.grad_fn = nn.value_and_grad(net, loss_fn)
        self.callbacks = list(callbacks)

    def run(self, data_iter, steps):
        for step in range(steps):
            x, y = next(data_iter)
            loss, grads = self.grad_fn(self.net, x, y)
            self.opt.update(self.net, grads)
            for cb in self.callbacks:
                cb.on_step_end(self, step, loss)


def sine_data(bs=64):
    while True:
        x = mx.random.uniform(-3, 3, (bs, 1))
        yield x, mx.sin(x)


def main():
    mx.random.seed(0)
    net = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
    mx.eval(net.parameters())
    opt = optim.Adam(learning_rate=3e-3)

    def mse(model, x, y):
        return nn.losses.mse_loss(model(x), y)

    Loop(net, opt, mse, callbacks=[Materialize(), PrintEvery(500)]).run(sine_data(), 3000)


if __name__ == "__main__":
    main()
