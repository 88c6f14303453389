# Weather-station barograph: classify the last 48 h of station pressure as
# settled / front passing / deepening low.
#
# The convolutional feature extractor comes from the "vendor" tendency model
# (trained here in part A on unlabelled traces and shipped the way the vendor
# ships it: a PyTorch-style state dict, conv kernels as (out, in, k), keys named
# features.N.*).  Part B converts it to MLX layout, checks the conversion, then
# fits a small classifier head on top with the trunk frozen, 4-fold CV with
# early stopping (best head restored per fold).  Log lines are JSON.
import json
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

L = 48
rs = np.random.default_rng(2024)


def trace(kind, n_extra=0):
    t = np.arange(L + n_extra, dtype=np.float64)
    base = 0.6 * np.sin(2 * np.pi * (t + rs.uniform(0, 12)) / 12.0)   # semidiurnal tide
    if kind == 0:                                   # settled, slow drift
        p = base + rs.normal(0, 0.02) * t
    elif kind == 1:                                 # front: fall then sharp rise
        t0 = rs.uniform(14, 38)
        depth = rs.uniform(2, 6)
        p = base - depth * np.exp(-0.5 * ((t - t0) / rs.uniform(4, 8)) ** 2)
        p += np.where(t > t0, rs.uniform(0.05, 0.15) * (t - t0), 0.0)
    else:                                           # deepening low, accelerating fall
        start = rs.uniform(0, 24)
        p = base - rs.uniform(0.002, 0.008) * np.clip(t - start, 0, None) ** 2
    p = p + np.cumsum(rs.normal(0, 0.28, t.size))     # instrument/weather noise
    return p - p[:L].mean()


# ---------------- part A: vendor tendency model (regression) ----------------
class Trunk(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(16, 32, kernel_size=5, stride=2, padding=2)

    def __call__(self, x):                 # x: (N, L, 1)
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))            # (N, 24, 32)
        return mx.concatenate([h.mean(axis=1), h[:, -4:, :].mean(axis=1)], axis=-1)


class Tendency(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = Trunk()
        self.reg = nn.Linear(64, 1)

    def __call__(self, x):
        return self.reg(self.trunk(x))


kinds = rs.integers(0, 3, 3000)
raw = np.stack([trace(k, n_extra=6) for k in kinds]).astype(np.float32)
XA = mx.array(raw[:, :L, None] / 4.0)
yA = mx.array((raw[:, L + 5] - raw[:, L - 1])[:, None] / 4.0)   # next-6h tendency

mx.random.seed(5)
vendor = Tendency()
sgd = optim.SGD(learning_rate=0.03, momentum=0.9)
vg = nn.value_and_grad(vendor, lambda m, x, y: mx.mean((m(x) - y) ** 2))
var_y = float(mx.var(yA))
print(f"vendor tendency model: target var {var_y:.4f}")
for it in range(300):
    idx = mx.array(rs.integers(0, 2600, 128))
    loss, g = vg(vendor, XA[idx], yA[idx])
    sgd.update(vendor, g)
    mx.eval(vendor.parameters(), sgd.state, loss)
    if it % 100 == 99:
        hold = mx.mean((vendor(XA[2600:]) - yA[2600:]) ** 2).item()
        print(f"  vendor it {it + 1:3d}  train_mse {loss.item():.4f}  holdout_mse {hold:.4f}  "
              f"(skill {100 * (1 - hold / var_y):.1f}%)")

# ship it the vendor way: torch layout + torch key names, numpy archive
torch_sd = {}
for k, v in tree_flatten(vendor.trunk.parameters()):
    layer, leaf = k.split(".")
    tk = {"c1": "features.0", "c2": "features.2"}[layer] + "." + leaf
    a = np.array(v)
    if leaf == "weight":
        a = a.transpose(0, 2, 1)            # MLX (out, k, in) -> torch (out, in, k)
    torch_sd[tk] = a
ship = os.path.join(tempfile.mkdtemp(prefix="barograph_"), "tendency_trunk.npz")
np.savez(ship, **torch_sd)
print(f"vendor export: {sorted((k, v.shape) for k, v in torch_sd.items())}")


# ---------------- part B: convert, verify, fine-tune a head ----------------
def convert(sd):
    out = []
    for k, v in sd.items():
        idx, leaf = k.split(".")[1:]
        name = {"0": "c1", "2": "c2"}[idx] + "." + leaf
        if leaf == "weight" and v.ndim == 3:
            v = v.transpose(0, 2, 1)        # torch (out, in, k) -> MLX (out, k, in)
        out.append((name, mx.array(v)))
    return out


class Barograph(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = Trunk()
        self.head = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 3))

    def __call__(self, x):
        return self.head(self.trunk(x))


shipped = dict(np.load(ship))
probe = Trunk()
probe.load_weights(convert(shipped), strict=True)
feat_gap = mx.max(mx.abs(probe(XA[:256]) - vendor.trunk(XA[:256]))).item()
print(f"conversion audit: {len(shipped)} tensors, max|feat_mlx - feat_vendor| = {feat_gap:.2e}")

N = 1600
labels = rs.integers(0, 3, N)
XB = mx.array(np.stack([trace(k) for k in labels]).astype(np.float32)[:, :, None] / 4.0)
yB = mx.array(labels)
folds = np.array_split(rs.permutation(N), 4)


def xent(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def scores(m, x, y):
    p = mx.softmax(m(x), axis=-1)
    acc = mx.mean(mx.argmax(p, axis=-1) == y) * 100
    brier = mx.mean(mx.sum((p - mx.eye(3)[y]) ** 2, axis=-1))
    mx.eval(acc, brier)
    return acc.item(), brier.item()


summary = []
for f in range(4):
    va = mx.array(folds[f])
    tr = np.concatenate([folds[j] for j in range(4) if j != f])
    mx.random.seed(100 + f)
    model = Barograph()
    model.trunk.load_weights(convert(shipped), strict=True)
    model.trunk.freeze()                             # vendor features stay as shipped
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    opt = optim.Adam(learning_rate=3e-3)
    vg = nn.value_and_grad(model, xent)
    _, g = vg(model, XB[mx.array(tr[:256])], yB[mx.array(tr[:256])])
    zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0.0]
    print(json.dumps({"fold": f, "event": "start", "trainable": n_train,
                      "frozen": "trunk", "zero_grad": zero}))
    best, best_ep, wait, best_w = 9.0, -1, 0, None
    trunk_before = np.array(model.trunk.c2.weight)
    for ep in range(24):
        order = np.random.default_rng(1000 * f + ep).permutation(tr)
        tot = 0.0
        for s in range(0, len(order), 64):
            b = mx.array(order[s:s + 64])
            loss, g = vg(model, XB[b], yB[b])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * b.size
        acc, brier = scores(model, XB[va], yB[va])
        print(json.dumps({"fold": f, "epoch": ep, "xent": round(tot / len(order), 4),
                          "val_acc_pct": round(acc, 2), "val_brier": round(brier, 4)}))
        if brier < best - 1e-4:
            best, best_ep, wait = brier, ep, 0
            best_w = [(k, mx.array(v)) for k, v in tree_flatten(model.head.parameters())]
        else:
            wait += 1
            if wait >= 4:
                break
    model.head.load_weights(best_w)
    acc, brier = scores(model, XB[va], yB[va])
    drift = float(np.abs(np.array(model.trunk.c2.weight) - trunk_before).max())
    print(json.dumps({"fold": f, "event": "restore", "best_epoch": best_ep, "stopped_at": ep,
                      "val_acc_pct": round(acc, 2), "val_brier": round(brier, 4),
                      "trunk_max_drift": drift}))
    summary.append((f, best_ep, acc, brier))

print("fold | best ep | acc %  | brier")
for f, e, a, b in summary:
    print(f"  {f}  |   {e:3d}   | {a:5.1f}  | {b:.4f}")
print(f"mean | {'':7} | {np.mean([s[2] for s in summary]):5.1f}  | "
      f"{np.mean([s[3] for s in summary]):.4f}   (chance 33.3 %, uniform brier 0.6667)")
