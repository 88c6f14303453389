"""Ski area operations: forecast the queue (minutes of wait) at a six-seat
chairlift 30 minutes ahead from the last 16 five-minute readings, a GRU over
the readings plus the time of day.  Training is split over two sessions: the
first writes a checkpoint, the second loads it into fresh objects and goes on."""
import os
import tempfile
import time
from pprint import pprint

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(1389)
WIN, AHEAD, SLOTS = 16, 6, 96  # 8 hours of 5-minute readings per day


def simulate_days(n):
    days = []
    for _ in range(n):
        t = np.arange(SLOTS)
        powder = rng.uniform(0, 1)
        weekend = rng.uniform() < 2 / 7
        base = 2 + 9 * np.exp(-((t - 18) ** 2) / 90) + 6 * np.exp(-((t - 62) ** 2) / 60)
        base *= (1.0 + 0.8 * powder) * (1.35 if weekend else 1.0)
        q = np.zeros(SLOTS)
        for k in range(SLOTS):  # queue has memory
            prev = q[k - 1] if k else base[0]
            q[k] = max(0.0, 0.8 * prev + 0.2 * base[k] + rng.normal(0, 0.8))
        days.append(q)
    return np.array(days, np.float32)


def windows(days):
    X, T, Y = [], [], []
    for q in days:
        for k in range(WIN, SLOTS - AHEAD):
            X.append(q[k - WIN:k]); T.append(k / SLOTS); Y.append(q[k + AHEAD - 1])
    return np.array(X, np.float32), np.array(T, np.float32), np.array(Y, np.float32)


tr_days, va_days = simulate_days(120), simulate_days(30)
Xtr, Ttr, Ytr = windows(tr_days)
Xva, Tva, Yva = windows(va_days)
SC = 10.0

# references on the validation days
clim = tr_days.mean(0)
slot_va = (np.round(Tva * SLOTS).astype(int) + AHEAD - 1)
refs = {
    "mean_predictor": float(np.sqrt(np.mean((Ytr.mean() - Yva) ** 2))),
    "persistence": float(np.sqrt(np.mean((Xva[:, -1] - Yva) ** 2))),
    "slot_climatology": float(np.sqrt(np.mean((clim[slot_va] - Yva) ** 2))),
}
print("reference RMSE (minutes of wait) on 30 held-out days:")
pprint(refs, width=60)


class QueueGRU(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.rnn = nn.GRU(2, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x, tod):
        inp = mx.stack([x, mx.broadcast_to(tod[:, None], x.shape)], axis=-1)
        h = self.rnn(inp)[:, -1, :]
        return self.head(h)[:, 0]


def loss_fn(m, x, tod, y):
    return nn.losses.mse_loss(m(x, tod), y)


xs_tr, ts_tr, ys_tr = mx.array(Xtr / SC), mx.array(Ttr), mx.array(Ytr / SC)
xs_va, ts_va = mx.array(Xva / SC), mx.array(Tva)
BS = 128
STEPS_PER = Xtr.shape[0] // BS
EPOCHS_TOTAL, EPOCHS_S1 = 8, 4
TOTAL = EPOCHS_TOTAL * STEPS_PER
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, STEPS_PER), optim.cosine_decay(3e-3, TOTAL - STEPS_PER, 1e-4)],
    [STEPS_PER])


def run_epochs(model, opt, first, last, session):
    step = nn.value_and_grad(model, loss_fn)
    for ep in range(first, last + 1):
        t0 = time.time()
        perm = rng.permutation(Xtr.shape[0])[: STEPS_PER * BS].reshape(STEPS_PER, BS)
        tot = 0.0
        for i in range(STEPS_PER):
            idx = mx.array(perm[i])
            loss, g = step(model, xs_tr[idx], ts_tr[idx], ys_tr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += float(loss)
        pred = np.array(model(xs_va, ts_va)) * SC
        r = float(np.sqrt(np.mean((pred - Yva) ** 2)))
        pprint({"session": session, "epoch": ep, "step": int(opt.step),
                "lr_next": round(float(opt.learning_rate), 6),
                "train_mse_scaled": round(tot / STEPS_PER, 5),
                "valid_rmse_min": round(r, 3),
                "skill_vs_persistence_pct": round(100 * (1 - r / refs["persistence"]), 1),
                "secs": round(time.time() - t0, 2)}, width=200, sort_dicts=False)
    return r


ckpt = tempfile.mkdtemp("_lift")
# ---- session 1
mx.random.seed(3)
model = QueueGRU()
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
run_epochs(model, opt, 1, EPOCHS_S1, session=1)
model.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
snap = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
print(f"checkpoint written to {ckpt} after step {int(opt.step)}")
del model, opt

# ---- session 2: fresh objects, state loaded from disk
mx.random.seed(99)
model = QueueGRU()
model.load_weights(os.path.join(ckpt, "model.safetensors"))
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
diff = max(float(np.abs(np.array(v) - snap[k]).max()) for k, v in tree_flatten(model.parameters()))
print(f"resumed at step {int(opt.step)}, max weight difference after reload {diff:.1e}")
final = run_epochs(model, opt, EPOCHS_S1 + 1, EPOCHS_TOTAL, session=2)

print("final comparison, valid RMSE in minutes:")
pprint({**refs, "gru": round(final, 3)}, width=60)
