"""1-D CNN on synthetic accelerometer windows (3 activity classes), Adafactor.

Adafactor is pinned to the factored second-moment recombination we had
vendored (copied from the library source at the time) so results stay
comparable with older runs.
"""
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class PinnedAdafactor(optim.Adafactor):
    def _approximate_exp_moving_avg(self, exp_avg_sq_row, exp_avg_sq_col):
        r_factor = mx.rsqrt(
            exp_avg_sq_row / mx.mean(exp_avg_sq_row, axis=-1, keepdims=True)
        )
        c_factor = mx.rsqrt(exp_avg_sq_col)
        return mx.expand_dims(r_factor, axis=-1) * mx.expand_dims(c_factor, axis=-2)


class ActivityNet(nn.Module):
    def __init__(self, n_cls=3):
        super().__init__()
        self.conv1 = nn.Conv1d(3, 16, kernel_size=5, padding=2)
        self.conv2 = nn.Conv1d(16, 16, kernel_size=5, padding=2)
        self.fc = nn.Linear(16, n_cls)

    def __call__(self, x):
        x = nn.relu(self.conv1(x))
        x = nn.relu(self.conv2(x))
        return self.fc(mx.mean(x, axis=1))


def synth(n, T=64):
    """walk / run / idle: different dominant frequency and amplitude."""
    y = mx.random.randint(0, 3, (n,))
    t = mx.arange(T)[None, :, None].astype(mx.float32)
    freq = mx.array([0.08, 0.2, 0.01])[y][:, None, None]
    amp = mx.array([1.0, 1.6, 0.2])[y][:, None, None]
    phase = mx.random.uniform(0, 6.28, (n, 1, 3))
    x = amp * mx.sin(2 * 3.14159 * freq * t + phase) + 0.3 * mx.random.normal((n, T, 3))
    return x, y


def bar(i, n, width=24):
    k = int(width * i / n)
    return "[" + "#" * k + "." * (width - k) + "]"


def main():
    mx.random.seed(5)
    Xtr, Ytr = synth(2048)
    Xva, Yva = synth(512)
    model = ActivityNet()
    mx.eval(model.parameters(), Xtr, Ytr, Xva, Yva)
    opt = PinnedAdafactor(learning_rate=1e-2, relative_step=False)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    def accuracy(x, y):
        return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()

    print(f"baseline val acc {accuracy(Xva, Yva):.3f}", flush=True)
    vg = nn.value_and_grad(model, loss_fn)
    bs, epochs = 64, 8
    nb = Xtr.shape[0] // bs
    t0 = time.time()
    for ep in range(1, epochs + 1):
        perm = mx.random.permutation(Xtr.shape[0])
        tot = 0.0
        for b in range(nb):
            idx = perm[b * bs:(b + 1) * bs]
            loss, grads = vg(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            if b % 8 == 0:
                sys.stdout.write(f"\rep {ep} {bar(b + 1, nb)} loss {tot / (b + 1):.4f}")
                sys.stdout.flush()
        sys.stdout.write(f"\rep {ep} {bar(nb, nb)} loss {tot / nb:.4f} val_acc {accuracy(Xva, Yva):.3f} {time.time() - t0:.1f}s\n")
    print("done")


if __name__ == "__main__":
    main()
