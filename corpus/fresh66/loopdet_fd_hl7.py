"""Fit a macroscopic traffic fundamental diagram (flow vs density) from loop-detector
samples with a small MLP; the run log is written as an HL7 v2 ORU^R01 message."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)
KJ = 150.0  # jam density veh/km/lane


def true_flow(k, rain, lanes):
    vf = np.where(rain > 0, 85.0, 100.0)
    qc = np.where(rain > 0, 1800.0, 2000.0) * np.where(lanes == 2, 0.95, 1.0)
    kc = qc / vf
    free = vf * k
    cong = qc * (KJ - k) / (KJ - kc)
    return np.where(k < kc, free, cong)


def make(n):
    k = rng.uniform(0, KJ, n)
    rain = (rng.random(n) < 0.3).astype(np.float64)
    lanes = rng.choice([2, 3, 4], n)
    q = true_flow(k, rain, lanes)
    q = q * (1 + 0.05 * rng.standard_normal(n)) + 60 * rng.standard_normal(n)
    q = np.clip(q, 0, None)
    x = np.stack([k / KJ, rain, lanes == 2, lanes == 3, lanes == 4], 1).astype(np.float32)
    return x, (q / 2000.0).astype(np.float32)[:, None]


Xtr, Ytr = make(16000)
Xva, Yva = make(2000)


class FD(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.log_cosh_loss(model(x), y, reduction="mean")


model = FD()
opt = optim.Adagrad(learning_rate=0.1)
vg = nn.value_and_grad(model, loss_fn)

seg = []
ts = "20260412083000"
seg.append(f"MSH|^~\\&|FDTRAIN|LOOPLAB|QA|TRAFFICOPS|{ts}||ORU^R01|FD0001|P|2.5")
seg.append(f"PID|1||DET-A7^^^LOOPLAB||FUNDAMENTAL^DIAGRAM||||||||||||train={len(Xtr)};valid={len(Xva)}")

xb, yb = mx.array(Xtr[:128]), mx.array(Ytr[:128])
l0, g0 = vg(model, xb, yb)
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
seg.append(f"OBR|1||GRADCHECK|leaves={len(leaves)}^zero={len(zero)}^names={','.join(zero) or 'none'}^loss0={float(l0):.5f}")

# constant-predictor baseline (veh/h)
base_rmse = float(np.sqrt(np.mean((Yva - Ytr.mean()) ** 2))) * 2000
seg.append(f"OBX|1|NM|BASELINE_RMSE^mean flow predictor||{base_rmse:.1f}|veh/h/lane")

Xv, Yv = mx.array(Xva), mx.array(Yva)
t0 = time.perf_counter()
obx = 2
epochs, bs = 36, 128
for ep in range(1, epochs + 1):
    perm = rng.permutation(len(Xtr))
    tot, nb = 0.0, 0
    for i in range(0, len(perm) - bs + 1, bs):
        idx = perm[i:i + bs]
        loss, grads = vg(model, mx.array(Xtr[idx]), mx.array(Ytr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += float(loss)
        nb += 1
    pv = model(Xv)
    rmse = float(mx.sqrt(mx.mean((pv - Yv) ** 2))) * 2000
    mae = float(mx.mean(mx.abs(pv - Yv))) * 2000
    # capacity read off the learned curve for a dry 3-lane road
    kg = np.linspace(0, 1, 301, dtype=np.float32)
    grid = np.stack([kg, np.zeros_like(kg), np.zeros_like(kg), np.ones_like(kg), np.zeros_like(kg)], 1)
    qg = np.array(model(mx.array(grid)))[:, 0] * 2000
    cap, kcap = float(qg.max()), float(kg[qg.argmax()] * KJ)
    el = time.perf_counter() - t0
    if ep > 3 and ep % 3:
        continue
    seg.append(f"OBX|{obx}|NM|EPOCH_{ep:02d}^train_logcosh={tot / nb:.6f}||{rmse:.1f}|veh/h/lane|||||F|||{ts}"
               f"|mae={mae:.1f}^capacity={cap:.0f}@k={kcap:.1f}^secs={el:.1f}")
    obx += 1

truth = f"capacity_true=2000@k=20.0"
seg.append(f"NTE|1||final_rmse_vs_baseline={rmse:.1f}/{base_rmse:.1f};{truth};learned={cap:.0f}@k={kcap:.1f}")
print("\r".join(seg).replace("\r", "\n"))
