"""Photovoltaic string fault classification from I-V sweeps.

Each sample is a 32-point current-voltage sweep of a PV string, simulated with
a crude single-diode model per module group (irradiance, temperature and
sensor noise vary).  Four classes:
  0 healthy, 1 partial shading (a bypass-diode step in the curve),
  2 high series resistance (soldering / connector degradation),
  3 shunt leakage (sloped plateau, PID-like).
A GRU reads the sweep point by point (V, I, dI/dV); its last hidden state plus
the mean hidden state feed a linear head.  Adam with gradient-norm clipping and
a step-decay schedule.  Nothing is printed while training; at the end the
per-epoch metrics are printed as a unified diff, epoch by epoch.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

T0 = time.time()
rng = np.random.default_rng(66)
NPTS = 32
CLASSES = ["healthy", "shading", "series_r", "shunt"]


def diode_group(v, isc, voc, rs, rsh):
    # implicit-ish single diode approximated explicitly (good enough for shapes)
    a = voc / 18.0
    i = isc - isc * (np.exp((v + isc * rs) / a - voc / a)) - v / rsh
    return i


def sweep(kind):
    g = rng.uniform(0.35, 1.05)            # irradiance, kW/m^2
    temp = rng.uniform(10, 60)
    voc = 6 * (38.0 - 0.12 * (temp - 25))  # 6 modules in series
    isc = 9.5 * g
    v = np.linspace(0, voc * 1.02, NPTS)
    rs, rsh = 0.35, 400.0
    if kind == 2:
        rs = rng.uniform(1.4, 3.5)
    if kind == 3:
        rsh = rng.uniform(12.0, 35.0)
    i = diode_group(v, isc, voc, rs, rsh)
    if kind == 1:
        frac = rng.uniform(0.2, 0.6)       # shaded share of modules
        shade = rng.uniform(0.25, 0.6)     # their current fraction
        vs = voc * (1 - frac)
        i_sh = diode_group(v, isc * shade, voc, rs, rsh)
        i = np.where(v < vs, np.minimum(i, np.maximum(i_sh, 0) + (isc - isc * shade) * (1 - v / vs) ** 6), i_sh)
    i = np.maximum(i, -0.2) + rng.normal(0, 0.06, NPTS)
    vn = v / 230.0
    inn = i / 10.0
    di = np.gradient(inn, vn)
    return np.stack([vn, inn, np.clip(di / 20.0, -3, 3)], 1).astype(np.float32)


def dataset(n):
    y = rng.integers(0, 4, n)
    X = np.stack([sweep(k) for k in y])
    return X, y.astype(np.int32)


Xtr, ytr = dataset(3000)
Xva, yva = dataset(800)
Xtr_m, ytr_m, Xva_m, yva_m = map(mx.array, (Xtr, ytr, Xva, yva))


class SweepGRU(nn.Module):
    def __init__(self, h=32):
        super().__init__()
        self.inp = nn.Linear(3, h)
        self.gru = nn.GRU(h, h)
        self.head = nn.Linear(2 * h, 4)

    def __call__(self, x):
        hs = self.gru(nn.tanh(self.inp(x)))          # (B, T, h)
        feat = mx.concatenate([hs[:, -1, :], hs.mean(axis=1)], axis=-1)
        return self.head(feat)


mx.random.seed(3)
model = SweepGRU()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
EPOCHS, BS = 10, 50
steps_per_epoch = Xtr.shape[0] // BS
sched = optim.step_decay(3e-3, 0.5, 4 * steps_per_epoch)
opt = optim.Adam(learning_rate=sched)

_, g0 = vg(model, Xtr_m[:BS], ytr_m[:BS])
flat0 = tree_flatten(g0)
zero_leaves = [k for k, v in flat0 if float(mx.abs(v).max()) == 0.0]


def evaluate():
    logits = model(Xva_m)
    ce = nn.losses.cross_entropy(logits, yva_m, reduction="mean").item()
    pred = np.array(mx.argmax(logits, axis=1))
    per = [float((pred[yva == c] == c).mean()) for c in range(4)]
    return ce, float((pred == yva).mean()), per


ce0, acc0, per0 = evaluate()
snapshots = [
    dict(epoch=0, train_ce=float("nan"), valid_ce=ce0, valid_acc=acc0, per=per0, lr=float(sched(0)), clipped=0)
]
step = 0
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    tot, nb, clipped = 0.0, 0, 0
    for b in range(steps_per_epoch):
        idx = perm[b * BS:(b + 1) * BS]
        loss, grads = vg(model, Xtr_m[idx], ytr_m[idx])
        grads, norm = optim.clip_grad_norm(grads, max_norm=1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, norm)
        clipped += int(norm.item() > 1.0)
        tot += loss.item()
        nb += 1
        step += 1
    ce, acc, per = evaluate()
    snapshots.append(
        dict(epoch=ep, train_ce=tot / nb, valid_ce=ce, valid_acc=acc, per=per, lr=float(opt.learning_rate.item()), clipped=clipped)
    )


def render(s):
    lines = [
        f"epoch = {s['epoch']}",
        f"lr = {s['lr']:.6f}",
        f"train_ce = {s['train_ce']:.4f}",
        f"valid_ce = {s['valid_ce']:.4f}",
        f"valid_acc = {s['valid_acc']:.4f}",
    ]
    lines += [f"recall.{c} = {r:.3f}" for c, r in zip(CLASSES, s["per"])]
    lines.append(f"clipped_steps = {s['clipped']}")
    return lines


n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"diff --git a/runs/pv_iv.metrics b/runs/pv_iv.metrics")
print(f"# train={len(ytr)} valid={len(yva)} params={n_params} leaves={len(flat0)} zero_grad_leaves={zero_leaves}")
print(f"# chance_ce={np.log(4):.4f} untrained_valid_ce={ce0:.4f}")
for prev, cur in zip(snapshots[:-1], snapshots[1:]):
    a, b = render(prev), render(cur)
    print(f"--- a/epoch_{prev['epoch']:02d}.metrics")
    print(f"+++ b/epoch_{cur['epoch']:02d}.metrics")
    print(f"@@ -1,{len(a)} +1,{len(b)} @@")
    for la, lb in zip(a, b):
        if la == lb:
            print(" " + la)
        else:
            print("-" + la)
            print("+" + lb)
print(f"# elapsed {time.time() - T0:.1f}s, {step} optimizer steps")
