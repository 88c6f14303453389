"""Bell foundry: predict how far a freshly cast bell's strike note lands from
its nominal pitch (in cents) from six casting readings.

The peak learning rate is chosen boldly; a guard watches every step and, when
the loss jumps far above its recent median (or stops being finite), the run
goes back to the last checkpoint on disk (weights + Adam state + step) and
continues with a smaller peak.
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)

# ---------------------------------------------------------------- data
N_TRAIN, N_VAL = 9000, 1500
n = N_TRAIN + N_VAL
thick = rng.uniform(0.06, 0.11, n)        # wall thickness / diameter
tin = rng.uniform(0.18, 0.26, n)          # tin share of bronze
diam = rng.uniform(0.4, 1.8, n)           # metres
mould_t = rng.uniform(20, 90, n)          # mould temperature C
cool_h = rng.uniform(12, 96, n)           # hours in the pit
lip = rng.uniform(-4, 4, n)               # lip angle offset, degrees

cents = (
    900.0 * (thick - 0.085)
    + 140.0 * (tin - 0.22)
    - 6.0 * np.log(diam)
    + 0.05 * np.abs(mould_t - 55) ** 1.2 * np.sign(mould_t - 55)
    + 8.0 * np.tanh((cool_h - 40) / 25)
    + 1.5 * lip * np.cos(3 * thick * 10)
    + rng.normal(0, 1.5, n)
)
X = np.stack([thick, tin, np.log(diam), mould_t, np.log(cool_h), lip], 1)
mu, sd = X[:N_TRAIN].mean(0), X[:N_TRAIN].std(0)
X = ((X - mu) / sd).astype(np.float32)
y_mu, y_sd = cents[:N_TRAIN].mean(), cents[:N_TRAIN].std()
Y = ((cents - y_mu) / y_sd).astype(np.float32)[:, None]
Xtr, Ytr = mx.array(X[:N_TRAIN]), mx.array(Y[:N_TRAIN])
Xva, Yva = mx.array(X[N_TRAIN:]), mx.array(Y[N_TRAIN:])
print(f"castings: {N_TRAIN} train / {N_VAL} check, strike offset sd {y_sd:.1f} cents")
print(f"tuner's guess (always the mean): {float(np.sqrt(((cents[N_TRAIN:] - y_mu) ** 2).mean())):.2f} cents rms")


class StrikeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 96)
        self.l2 = nn.Linear(96, 96)
        self.l3 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        h = h + nn.silu(self.l3(h))
        return self.out(h)


def loss_fn(model, xb, yb):
    return nn.losses.mse_loss(model(xb), yb)


TOTAL = 1500
WARM = 250
BATCH = 128
CKPT_EVERY = 100
peak = {"lr": 0.4}   # read by the schedule on every update


def schedule(step):
    s = step.item() if isinstance(step, mx.array) else step
    if s < WARM:
        return mx.array(peak["lr"] * s / WARM, dtype=mx.float32)
    frac = min(1.0, (s - WARM) / (TOTAL - WARM))
    return mx.array(1e-5 + 0.5 * (peak["lr"] - 1e-5) * (1 + math.cos(math.pi * frac)), dtype=mx.float32)


model = StrikeNet()
opt = optim.Adam(learning_rate=schedule)
vg = nn.value_and_grad(model, loss_fn)
mx.eval(model.parameters())

workdir = tempfile.mkdtemp()


def write_ckpt(step):
    model.save_weights(os.path.join(workdir, "strike.safetensors"))
    mx.save_safetensors(os.path.join(workdir, "adam.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(workdir, "where.json"), "w") as f:
        json.dump({"step": step, "peak": peak["lr"]}, f)


def read_ckpt():
    model.load_weights(os.path.join(workdir, "strike.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(workdir, "adam.safetensors")).items()))
    mx.eval(model.parameters(), opt.state)
    with open(os.path.join(workdir, "where.json")) as f:
        return json.load(f)["step"]


def val_cents():
    err = (model(Xva) - Yva) * y_sd
    return float(mx.sqrt(mx.mean(err * err)).item())


# gradient leaf audit on one batch
_, g0 = vg(model, Xtr[:BATCH], Ytr[:BATCH])
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max().item()) == 0.0]
print(f"gradient leaves {len(leaves)}, all-zero: {zero}")
print(f"untrained check rms {val_cents():.2f} cents")

recent = []
step = 0
rollbacks = 0
order = rng.permutation(N_TRAIN)
cursor = 0
t0 = time.time()
write_ckpt(0)
while step < TOTAL:
    if cursor + BATCH > N_TRAIN:
        order = rng.permutation(N_TRAIN)
        cursor = 0
    idx = mx.array(order[cursor:cursor + BATCH])
    cursor += BATCH
    loss, grads = vg(model, Xtr[idx], Ytr[idx])
    mx.eval(loss)
    lv = float(loss.item())
    med = float(np.median(recent)) if len(recent) >= 20 else None
    if (not math.isfinite(lv)) or (med is not None and lv > 8.0 * med and lv > 0.5):
        if rollbacks == 5:
            raise SystemExit("pour guard: five rollbacks, giving up")
        back_to = read_ckpt()
        rollbacks += 1
        peak["lr"] *= 0.3
        print(f"  pour guard: step {step + 1} loss {lv:.3g} vs median {med if med is None else round(med, 4)}"
              f" -> back to step {back_to}, peak lr now {peak['lr']:.4g}")
        step = back_to
        recent = []
        continue
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    step += 1
    recent.append(lv)
    recent = recent[-50:]
    if step % CKPT_EVERY == 0:
        write_ckpt(step)
    if step % 150 == 0:
        lr_now = float(opt.state["learning_rate"].item())
        print(f"| step {step:4d} | lr {lr_now:.2e} | batch mse {lv:7.4f} | median50 {np.median(recent):.4f}"
              f" | check {val_cents():6.2f} cents | {time.time() - t0:5.1f}s |")

final = val_cents()
print(f"done: {step} steps, {rollbacks} rollback(s), final check rms {final:.2f} cents "
      f"(noise floor about 1.5), Adam step {int(opt.state['step'].item())}")
for fn in os.listdir(workdir):
    os.remove(os.path.join(workdir, fn))
os.rmdir(workdir)
