"""Salt-marsh vegetation zone (pioneer / low marsh / high marsh) from eight field readings.

Extreme learning machine: a random sigmoid hidden layer that is never trained
(frozen on purpose) and a softmax readout trained with Adam.  The closed-form
ridge readout of the same hidden layer is printed as a reference row.
"""
import csv
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(20394)
mx.random.seed(20394)
ZONES = ["pioneer", "low_marsh", "high_marsh"]


def simulate(n):
    elev = rng.uniform(-0.4, 1.4, n)                      # m above mean high water neaps
    sal = rng.normal(28.0, 5.0, n)                        # psu
    inund = np.clip(1.1 - 0.9 * elev + rng.normal(0, 0.2, n), 0, 2)  # tides/day
    grain = rng.lognormal(-2.0, 0.4, n)                   # median grain mm
    org = rng.uniform(0, 30, n)                           # organic %
    redox = rng.normal(80, 70, n) + 60 * elev             # mV
    slope = rng.exponential(0.02, n)
    creek = rng.exponential(30.0, n)                      # m to nearest creek
    X = np.stack([elev, sal, inund, grain, org, redox, slope, creek], 1)
    s = 2.6 * elev - 0.04 * (sal - 28) + 0.6 * np.sin(3 * elev) - 0.6 * inund \
        - 0.008 * creek + 0.015 * org + 0.004 * redox
    logits = np.stack([-2.2 * s, 1.2 - 2.4 * np.abs(s - 1.0), 2.2 * s - 4.0], 1)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    return X.astype(np.float32), y.astype(np.int32), p


Xtr, ytr, _ = simulate(4000)
Xte, yte, pte = simulate(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
bayes_ce = float(-np.log(pte[np.arange(len(yte)), yte]).mean())
bayes_acc = float((pte.argmax(1) == yte).mean())
Xtr_m, ytr_m, Xte_m, yte_m = map(mx.array, (Xtr, ytr, Xte, yte))


class ELM(nn.Module):
    def __init__(self, d_in, width, n_out):
        super().__init__()
        self.hidden = nn.Linear(d_in, width)
        self.hidden.weight = mx.random.uniform(-1.0, 1.0, (width, d_in))
        self.hidden.bias = mx.random.uniform(-1.0, 1.0, (width,))
        self.readout = nn.Linear(width, n_out)
        self.readout.weight = mx.zeros((n_out, width))
        self.readout.bias = mx.zeros((n_out,))
        self.hidden.freeze()

    def features(self, x):
        return nn.sigmoid(self.hidden(x))

    def __call__(self, x):
        return self.readout(self.features(x))


WIDTH, STEPS, BATCH, WARM = 400, 2000, 128, 100
model = ELM(8, WIDTH, 3)
hidden_before = np.array(model.hidden.weight)
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))

sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-2, WARM), optim.cosine_decay(2e-2, STEPS - WARM, 1e-3)], [WARM])
opt = optim.Adam(learning_rate=sched)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)


def evaluate():
    logits = model(Xte_m)
    ce = nn.losses.cross_entropy(logits, yte_m, reduction="mean").item()
    acc = (mx.argmax(logits, 1) == yte_m).astype(mx.float32).mean().item()
    return ce, 100 * acc


out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["row", "step", "lr", "train_ce", "test_ce", "test_acc_pct", "secs"])
ce0, acc0 = evaluate()
out.writerow(["init", 0, "", "", f"{ce0:.4f}", f"{acc0:.1f}", "0.0"])
sys.stdout.flush()

t0 = time.perf_counter()
perm, cur, window = rng.permutation(len(Xtr)), 0, []
for step in range(1, STEPS + 1):
    if cur + BATCH > len(perm):
        perm, cur = rng.permutation(len(Xtr)), 0
    idx = mx.array(perm[cur:cur + BATCH])
    cur += BATCH
    lr_now = sched(opt.step).item()
    loss, grads = step_fn(model, Xtr_m[idx], ytr_m[idx])
    if step == 1:
        leaves = tree_flatten(grads)
        print(f"# grad leaves {[k for k, _ in leaves]} of {n_train} trainable / {n_all} total params")
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step in (1, 2, 50) or step % 250 == 0:
        ce, acc = evaluate()
        out.writerow(["train", step, f"{lr_now:.5f}", f"{np.mean(window):.4f}", f"{ce:.4f}",
                      f"{acc:.1f}", f"{time.perf_counter() - t0:.1f}"])
        sys.stdout.flush()
        window = []

# reference rows: majority class, closed-form ridge readout on the same hidden layer, true-probability floor
H = np.array(model.features(Xtr_m))
H1 = np.concatenate([H, np.ones((len(H), 1), np.float32)], 1)
T = np.eye(3, dtype=np.float64)[ytr]
beta = np.linalg.solve(H1.T @ H1 + 1e-2 * np.eye(H1.shape[1]), H1.T @ T)
Hte = np.concatenate([np.array(model.features(Xte_m)), np.ones((len(Xte), 1), np.float32)], 1)
ridge_acc = 100 * float(((Hte @ beta).argmax(1) == yte).mean())
major = int(np.bincount(ytr).argmax())
major_acc = 100 * float((yte == major).mean())
final_ce, final_acc = evaluate()
out.writerow(["reference_majority_" + ZONES[major], "", "", "", "", f"{major_acc:.1f}", ""])
out.writerow(["reference_ridge_closed_form", "", "", "", "", f"{ridge_acc:.1f}", ""])
out.writerow(["reference_true_probabilities", "", "", "", f"{bayes_ce:.4f}", f"{100 * bayes_acc:.1f}", ""])
out.writerow(["final_readout", STEPS, "", "", f"{final_ce:.4f}", f"{final_acc:.1f}", ""])
drift = float(np.abs(np.array(model.hidden.weight) - hidden_before).max())
print(f"# hidden layer max change {drift:.1f} (kept at its random draw); done in {time.perf_counter() - t0:.1f}s")
