"""Urushi lacquer workshop: grade a cured coat (glossy / hazy / wrinkled) from
seven drying-room readings. Manifold mixup during the main phase, plain
training for the last two epochs. Output is CSV on stdout."""
import csv
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)

FEATURES = ["humidity", "room_temp", "coat_um", "hours_in_muro",
            "pigment_load", "brush_passes", "sap_age_months"]
GRADES = ["glossy", "hazy", "wrinkled"]


def make_coats(n):
    hum = rng.uniform(55, 90, n)
    temp = rng.uniform(18, 32, n)
    coat = rng.uniform(20, 90, n)
    hours = rng.uniform(6, 72, n)
    pig = rng.uniform(0, 0.4, n)
    passes = rng.integers(2, 9, n).astype(np.float64)
    age = rng.uniform(0, 36, n)
    # made-up cure law: wrinkling from thick coats in a hot wet room,
    # haze from slow cures (dry room, old sap, short time)
    cure_rate = 0.06 * (hum - 70) + 0.12 * (temp - 25) - 0.02 * age
    wrinkle = 0.045 * (coat - 55) + 0.9 * cure_rate - 0.15 * passes + 0.6
    haze = -0.9 * cure_rate - 0.035 * (hours - 30) + 2.5 * pig - 0.3
    logits = np.stack([np.zeros(n), haze, wrinkle], axis=1)
    logits += rng.gumbel(size=logits.shape) * 0.6
    y = logits.argmax(1)
    X = np.stack([hum, temp, coat, hours, pig, passes, age], axis=1)
    return X.astype(np.float32), y.astype(np.int32)


Xtr, ytr = make_coats(6000)
Xva, yva = make_coats(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = (Xtr - mu) / sd
Xva = (Xva - mu) / sd
Xva_mx, yva_mx = mx.array(Xva), mx.array(yva)


class CoatGrader(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = [nn.Linear(7, 64), nn.Linear(64, 64)]
        self.head = nn.Linear(64, 3)

    def __call__(self, x, mix_at=-1, lam=None, perm=None):
        # mix_at: -1 none, 0 input, 1 after block 0, 2 after block 1
        if mix_at == 0:
            x = lam * x + (1 - lam) * x[perm]
        for i, blk in enumerate(self.blocks):
            x = nn.gelu(blk(x))
            if mix_at == i + 1:
                x = lam * x + (1 - lam) * x[perm]
        return self.head(x)


def soft_ce(logits, target_probs):
    return -(target_probs * nn.log_softmax(logits, axis=-1)).sum(-1).mean()


def loss_fn(model, xb, yb, mix_at, lam, perm):
    logits = model(xb, mix_at, lam, perm)
    onehot = mx.eye(3)[yb]
    if mix_at >= 0:
        target = lam * onehot + (1 - lam) * onehot[perm]
    else:
        target = onehot
    return soft_ce(logits, target)


model = CoatGrader()
mx.eval(model.parameters())
EPOCHS, MIX_EPOCHS, BS = 14, 12, 100
steps_per_epoch = len(Xtr) // BS
boundaries = [6 * steps_per_epoch, 11 * steps_per_epoch]
sched = optim.join_schedules(
    [lambda s: mx.array(3e-3), lambda s: mx.array(1e-3), lambda s: mx.array(3e-4)],
    boundaries)
opt = optim.Adamax(learning_rate=sched)
vg = nn.value_and_grad(model, loss_fn)


def evaluate():
    logits = model(Xva_mx)
    ce = nn.losses.cross_entropy(logits, yva_mx, reduction="mean")
    acc = (logits.argmax(-1) == yva_mx).astype(mx.float32).mean()
    return ce.item(), 100.0 * acc.item()


majority = 100.0 * np.bincount(yva).max() / len(yva)
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(["epoch", "phase", "lr_end", "train_obj", "val_ce", "val_acc_pct",
            "majority_pct", "secs"])
ce0, acc0 = evaluate()
w.writerow([0, "untrained", "", "", f"{ce0:.4f}", f"{acc0:.2f}", f"{majority:.2f}", "0.0"])

# first-step gradient leaf audit
xb0, yb0 = mx.array(Xtr[:BS]), mx.array(ytr[:BS])
_, g0 = vg(model, xb0, yb0, 1, mx.array(0.7), mx.array(rng.permutation(BS)))
from mlx.utils import tree_flatten
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max().item()) == 0.0]
print(f"# grad leaves={len(leaves)} zero={zero}")

t0 = time.time()
for ep in range(1, EPOCHS + 1):
    mixing = ep <= MIX_EPOCHS
    order = rng.permutation(len(Xtr))
    tot = 0.0
    for b in range(steps_per_epoch):
        idx = mx.array(order[b * BS:(b + 1) * BS])
        xb, yb = mx.array(Xtr)[idx], mx.array(ytr)[idx]
        if mixing:
            mix_at = int(rng.integers(0, 3))
            lam = mx.array(float(rng.beta(2.0, 2.0)))
            perm = mx.array(rng.permutation(BS))
        else:
            mix_at, lam, perm = -1, mx.array(1.0), mx.arange(BS)
        loss, g = vg(model, xb, yb, mix_at, lam, perm)
        opt.update(model, g)
        mx.eval(loss, model.parameters(), opt.state)
        tot += loss.item()
    # the workshop only reads the validation board every third epoch
    # and in the plain finishing phase
    if ep % 3 == 0 or not mixing:
        ce, acc = evaluate()
        lr_now = float(sched(opt.step).item())
        w.writerow([ep, "mix" if mixing else "plain", f"{lr_now:.1e}",
                    f"{tot / steps_per_epoch:.4f}", f"{ce:.4f}", f"{acc:.2f}",
                    f"{majority:.2f}", f"{time.time() - t0:.1f}"])
        sys.stdout.flush()

ce, acc = evaluate()
print(f"# done: val_ce {ce:.4f} val_acc {acc:.2f}% (majority {majority:.2f}%)")
