"""Tannery hide grading: 4-way grade (A/B/C/reject) from 8 drum-log readings.

Schedule after Smith et al. 2017 ("Don't decay the learning rate, increase the
batch size"): the learning rate stays at 0.08 for the whole run and the batch
size is doubled every 4 epochs instead (32 -> 512).
"""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
N_TRAIN, N_VAL = 14000, 3000
FEATS = ["chrome_pct", "drum_hours", "liquor_ph", "temp_c", "fat_liquor",
         "hide_thickness", "scar_count", "dye_uptake"]


def make_hides(n):
    x = rng.normal(size=(n, len(FEATS))).astype(np.float32)
    score = (1.1 * x[:, 0] - 0.7 * x[:, 2] ** 2 + 0.8 * np.tanh(2 * x[:, 1])
             + 0.6 * x[:, 3] * x[:, 4] - 0.9 * np.abs(x[:, 6]) + 0.4 * x[:, 5]
             + 0.3 * np.sin(3 * x[:, 7]))
    score += rng.logistic(scale=0.45, size=n)
    cuts = np.array([-1.6, -0.6, 0.5])
    y = (score[:, None] > cuts[None, :]).sum(1)
    return x, (3 - y).astype(np.int32)  # 0 = grade A ... 3 = reject


xtr, ytr = make_hides(N_TRAIN)
xva, yva = make_hides(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
Xtr, Ytr = mx.array(xtr), mx.array(ytr)
Xva, Yva = mx.array(xva), mx.array(yva)


class HideGrader(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(8, 128)
        self.mid = nn.Linear(128, 128)
        self.out = nn.Linear(128, 4)

    def __call__(self, x):
        h = nn.relu(self.inp(x))
        h = h + nn.relu(self.mid(h))
        return self.out(h)


mx.random.seed(3)
model = HideGrader()
opt = optim.SGD(learning_rate=0.08, momentum=0.9)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def evaluate():
    logits = model(Xva)
    ce = nn.losses.cross_entropy(logits, Yva, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == Yva)
    return ce.item(), 100.0 * acc.item()


prior = np.bincount(ytr, minlength=4) / len(ytr)
print(f"hides: train {N_TRAIN}  valid {N_VAL}  grade shares "
      + " ".join(f"{g}={p:.1%}" for g, p in zip("ABCR", prior)))
print(f"majority-grade accuracy {100 * np.mean(yva == np.argmax(prior)):.1f}%  "
      f"prior CE {-(prior * np.log(prior)).sum():.3f} nats")
ce0, acc0 = evaluate()
print(f"untrained: valid CE {ce0:.3f}  acc {acc0:.1f}%")
print()
print(f"{'ep':>3} {'batch':>5} {'steps':>5} {'lr':>5} {'ms/step':>8} "
      f"{'train_ce':>8} {'ce_sd':>6} {'val_ce':>7} {'val_acc':>7}  note")

EPOCHS, LADDER_EVERY = 20, 4
batch = 32
for ep in range(1, EPOCHS + 1):
    note = ""
    if ep > 1 and (ep - 1) % LADDER_EVERY == 0:
        batch *= 2
        note = f"batch -> {batch}"
    perm = mx.array(rng.permutation(N_TRAIN))
    steps = N_TRAIN // batch
    losses = []
    t0 = time.perf_counter()
    for s in range(steps):
        idx = perm[s * batch:(s + 1) * batch]
        loss = train_step(Xtr[idx], Ytr[idx])
        mx.eval(loss, model.parameters(), opt.state)
        losses.append(loss.item())
    ms = 1000 * (time.perf_counter() - t0) / steps
    vce, vacc = evaluate()
    print(f"{ep:>3} {batch:>5} {steps:>5} {opt.learning_rate.item():>5.2f} {ms:>8.2f} "
          f"{np.mean(losses):>8.4f} {np.std(losses):>6.3f} {vce:>7.4f} {vacc:>6.1f}%  {note}")

print()
print(f"final: valid CE {vce:.4f}  acc {vacc:.1f}%  (majority {100 * np.mean(yva == np.argmax(prior)):.1f}%)")
