"""Hive acoustic monitor: 5-way colony state from microphone + scale features,
then split-conformal prediction sets (LAC and APS) on a held-out calibration split."""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

STATES = ["calm", "queenless", "piping", "robbing", "chilled"]
rng = np.random.default_rng(358)
mx.random.seed(358)


def make_hives(n):
    y = rng.choice(5, size=n, p=[0.38, 0.14, 0.18, 0.16, 0.14])
    centres = np.array([
        # hum Hz, 200-300 band, 400-500 band, inside C, RH, kg/day, hour
        [245, 0.0, -1.0, 34.5, 0.0, 0.30, 0.0],
        [265, 0.9, -0.6, 33.5, 0.3, 0.05, 0.0],
        [255, 0.3, 1.2, 35.2, 0.2, 0.10, 0.3],
        [280, 1.1, 0.2, 34.8, -0.4, -0.45, 0.6],
        [225, -1.0, -0.9, 29.0, 0.5, 0.00, -0.5],
    ])
    spread = np.array([14, 0.7, 0.8, 1.6, 0.8, 0.30, 0.9])
    x = centres[y] + rng.normal(size=(n, 7)) * spread
    return x.astype(np.float32), y.astype(np.int32)


x_tr, y_tr = make_hives(4000)
x_cal, y_cal = make_hives(1500)
x_te, y_te = make_hives(2000)
mu, sd = x_tr.mean(0), x_tr.std(0)
x_tr, x_cal, x_te = [(a - mu) / sd for a in (x_tr, x_cal, x_te)]
X_tr, Y_tr = mx.array(x_tr), mx.array(y_tr)
X_cal, X_te = mx.array(x_cal), mx.array(x_te)


class HiveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.drop = nn.Dropout(0.1)
        self.out = nn.Linear(64, 5)

    def __call__(self, x):
        h = self.drop(nn.silu(self.l1(x)))
        h = self.drop(nn.silu(self.l2(h)))
        return self.out(h)


BATCH = 64
EPOCHS = 30
STEPS_PER_EPOCH = math.ceil(len(y_tr) / BATCH)
TOTAL = EPOCHS * STEPS_PER_EPOCH
WARM = 60


def build():
    model = HiveNet()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, WARM),
         optim.cosine_decay(2e-3, TOTAL - WARM, 5e-5)],
        [WARM],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return model, opt


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def held_out(model, X, y):
    model.eval()
    logits = model(X)
    p = mx.softmax(logits, axis=-1)
    nll = nn.losses.cross_entropy(logits, mx.array(y), reduction="mean").item()
    acc = (mx.argmax(logits, axis=-1) == mx.array(y)).astype(mx.float32).mean().item()
    model.train()
    return np.array(p), nll, acc


def run_epochs(model, opt, first, last, log):
    step_fn = nn.value_and_grad(model, loss_fn)
    for ep in range(first, last + 1):
        perm = np.random.default_rng(ep).permutation(len(y_tr))
        tot, cnt = 0.0, 0
        for s in range(0, len(perm), BATCH):
            idx = mx.array(perm[s:s + BATCH])
            loss, grads = step_fn(model, X_tr[idx], Y_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * len(idx)
            cnt += len(idx)
        if ep in log:
            _, v_nll, v_acc = held_out(model, X_cal, y_cal)
            lr = opt.learning_rate.item()
            print(f"hive-log[epoch={ep:02d}] lr={lr:.2e} train_ce={tot / cnt:.4f} "
                  f"cal_ce={v_nll:.4f} cal_acc={100 * v_acc:.1f}% ref_uniform_ce={math.log(5):.4f}")


t0 = time.time()
model, opt = build()
print(f"hive-log[setup] train={len(y_tr)} cal={len(y_cal)} test={len(y_te)} states={','.join(STATES)} "
      f"majority_acc={100 * np.mean(y_te == 0):.1f}%")
g = nn.value_and_grad(model, loss_fn)(model, X_tr[:256], Y_tr[:256])[1]
norms = {k: float(mx.linalg.norm(v).item()) for k, v in tree_flatten(g)}
print(f"hive-log[grad-check] leaves={len(norms)} min_norm={min(norms.values()):.3e} "
      f"zero_leaves={[k for k, v in norms.items() if v == 0.0]}")
print(f"hive-log[note] first update runs at lr={opt.learning_rate.item():.1f} (linear warm-up from zero)")

# session 1: epochs 1..15, then checkpoint and stop
run_epochs(model, opt, 1, 15, log={1, 2, 5, 15})
ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "w.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"hive-log[checkpoint] saved after epoch 15, optimizer step={opt.step.item()}")
del model, opt

# session 2: rebuild, restore, continue to epoch 30
model, opt = build()
model.load_weights(os.path.join(ckpt, "w.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
print(f"hive-log[resume] restored optimizer step={opt.step.item()} lr={opt.learning_rate.item():.2e}")
for f in os.listdir(ckpt):
    os.remove(os.path.join(ckpt, f))
os.rmdir(ckpt)
run_epochs(model, opt, 16, EPOCHS, log={16, 20, 25, 30})

# split conformal on the calibration split
p_cal, _, _ = held_out(model, X_cal, y_cal)
p_te, te_nll, te_acc = held_out(model, X_te, y_te)
n = len(y_cal)


def conformal_q(scores, alpha):
    level = min(1.0, math.ceil((n + 1) * (1 - alpha)) / n)
    return float(np.quantile(scores, level, method="higher"))


def aps_scores(p, y):
    order = np.argsort(-p, axis=1)
    sp = np.take_along_axis(p, order, axis=1)
    cum = np.cumsum(sp, axis=1)
    rank = np.argsort(order, axis=1)[np.arange(len(y)), y]
    return cum[np.arange(len(y)), rank]


def aps_sets(p, q):
    order = np.argsort(-p, axis=1)
    sp = np.take_along_axis(p, order, axis=1)
    cum = np.cumsum(sp, axis=1)
    keep_sorted = cum <= q  # a class enters when its score is within qhat
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=1)
    return keep


print(f"hive-log[test] ce={te_nll:.4f} acc={100 * te_acc:.1f}% "
      f"(top-1 as a one-label set covers {100 * te_acc:.1f}%, all-5 set covers 100.0% at size 5)")
for alpha in (0.05, 0.10, 0.20):
    lac_q = conformal_q(1.0 - p_cal[np.arange(n), y_cal], alpha)
    lac = p_te >= 1.0 - lac_q
    aps_q = conformal_q(aps_scores(p_cal, y_cal), alpha)
    aps = aps_sets(p_te, aps_q)
    for name, sets, q in (("lac", lac, lac_q), ("aps", aps, aps_q)):
        cover = sets[np.arange(len(y_te)), y_te].mean()
        size = sets.sum(1)
        print(f"hive-log[conformal={name} alpha={alpha:.2f}] qhat={q:.4f} target={100 * (1 - alpha):.0f}% "
              f"cover={100 * cover:.1f}% mean_size={size.mean():.2f} empty={100 * np.mean(size == 0):.1f}% "
              f"singleton={100 * np.mean(size == 1):.1f}%")
print(f"hive-log[done] seconds={time.time() - t0:.1f}")
