# Plucked-guitar-string tuner: regress the fundamental (in semitones above E2)
# from a 256-bin magnitude spectrum of a Karplus-Strong-like synthetic pluck.
# Curriculum: stage A clean takes, stage B adds room noise + a 2nd harmonic boost
# (loss jumps when stage B starts, on purpose). Compiled SGD+momentum step.
import math
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SR, NS = 8000, 1024
rng = np.random.default_rng(3)


def pluck(semi, noisy):
    f0 = 82.41 * 2 ** (semi / 12)
    t = np.arange(NS) / SR
    decay = rng.uniform(2, 6)
    sig = sum((0.8 ** h) * np.sin(2 * math.pi * f0 * (h + 1) * t) for h in range(6))
    if noisy:
        sig += 1.8 * np.sin(2 * math.pi * 2 * f0 * t) + rng.normal(0, 1.2, NS)
    sig *= np.exp(-decay * t)
    mag = np.abs(np.fft.rfft(sig * np.hanning(NS)))[:256]
    return (mag / (mag.max() + 1e-6)).astype(np.float32)


def make(n, noisy):
    semis = rng.uniform(0, 24, n)
    return np.stack([pluck(s, noisy) for s in semis]), semis.astype(np.float32)


class Tuner(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(256, 96)
        self.l2 = nn.Linear(96, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


model = Tuner()
opt = optim.SGD(learning_rate=0.02, momentum=0.9)
state = [model.state, opt.state]


def loss_fn(x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, g = nn.value_and_grad(model, loss_fn)(x, y)
    g, gn = optim.clip_grad_norm(g, 5.0)
    opt.update(model, g)
    return loss, gn


YMEAN = 12.0
print(f"{'stage':<6}{'step':>6}{'huber':>9}{'val_MAE_st':>12}{'mean_guess_MAE':>16}{'|g|':>8}{'cents_err':>11}")
print("-" * 68)
for stage, noisy, steps, lr in (("A", False, 500, 0.02), ("B", True, 700, 0.01)):
    Xtr, Ytr = make(1200, noisy)
    Xva, Yva = make(200, noisy)
    Xva, Yva = mx.array(Xva), mx.array(Yva)
    opt.learning_rate = lr
    for s in range(1, steps + 1):
        idx = rng.integers(0, len(Xtr), 64)
        loss, gn = train_step(mx.array(Xtr[idx]), mx.array(Ytr[idx]))
        mx.eval(state, loss, gn)
        if s == 1 or s % 100 == 0:
            mae = mx.abs(model(Xva) - Yva).mean().item()
            base = mx.abs(YMEAN - Yva).mean().item()
            print(f"{stage:<6}{s:>6}{loss.item():>9.4f}{mae:>12.3f}{base:>16.3f}{gn.item():>8.2f}{mae*100:>11.1f}")
print("done: final val MAE %.3f semitones (%.0f cents)" % (mae, mae * 100))
