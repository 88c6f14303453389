"""Ale fermentation: apparent attenuation (%) from wort and pitch records.
Component ablation, each row a fresh model; a MediaWiki table closes the run."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(77)
NOISE = 1.2


def brew(n):
    og = rng.uniform(1.040, 1.090, n)          # original gravity
    mash_t = rng.uniform(62.0, 70.0, n)        # mash temperature C
    pitch = rng.lognormal(0.0, 0.4, n)         # pitch rate, relative
    ferm_t = rng.uniform(16.0, 22.0, n)        # fermentation temperature C
    o2 = rng.uniform(4.0, 12.0, n)             # dissolved oxygen ppm
    strain = rng.integers(0, 3, n)             # three house strains
    att = (78.0 - 1.6 * np.clip(mash_t - 64.0, 0.0, None) ** 1.2 + 3.0 * np.tanh(np.log(pitch) * 2)
           + 0.6 * (ferm_t - 19.0) - 0.02 * (ferm_t - 19.0) ** 3 + 1.5 * np.tanh((o2 - 8.0) / 2)
           - 80.0 * (og - 1.065) + np.array([0.0, 4.0, -3.0])[strain])
    att = att + rng.normal(0.0, NOISE, n)
    x = np.c_[(og - 1.065) / 0.015, (mash_t - 66) / 2.3, np.log(pitch) / 0.4, (ferm_t - 19) / 1.7,
              (o2 - 8) / 2.3, np.eye(3)[strain]]
    return x.astype(np.float32), att.astype(np.float32)


xtr, ytr = brew(5000)
xva, yva = brew(1500)
ym, ys = ytr.mean(), ytr.std()
Xtr, Xva, Ttr = mx.array(xtr), mx.array(xva), mx.array((ytr - ym) / ys)


class Block(nn.Module):
    def __init__(self, d, norm, drop, residual):
        super().__init__()
        self.norm = nn.LayerNorm(d) if norm else None
        self.fc = nn.Linear(d, d)
        self.drop = nn.Dropout(drop) if drop > 0 else None
        self.residual = residual

    def __call__(self, h):
        z = self.norm(h) if self.norm is not None else h
        z = nn.gelu(self.fc(z))
        if self.drop is not None:
            z = self.drop(z)
        return h + z if self.residual else z


class AttenuationNet(nn.Module):
    def __init__(self, depth=3, width=64, norm=True, drop=0.1, residual=True, hidden=True):
        super().__init__()
        self.hidden = hidden
        if hidden:
            self.stem = nn.Linear(8, width)
            self.blocks = [Block(width, norm, drop, residual) for _ in range(depth)]
            self.head = nn.Linear(width, 1)
        else:
            self.head = nn.Linear(8, 1)

    def __call__(self, x):
        if not self.hidden:
            return self.head(x).squeeze(-1)
        h = self.stem(x)
        for b in self.blocks:
            h = b(h)
        return self.head(h).squeeze(-1)


VARIANTS = [
    ("full", dict()),
    ("no dropout", dict(drop=0.0)),
    ("no layernorm", dict(norm=False)),
    ("no residual", dict(residual=False)),
    ("depth 1", dict(depth=1)),
    ("width 16", dict(width=16)),
    ("linear only", dict(hidden=False)),
]
EPOCHS, BATCH = 8, 125


def val_mae(m):
    m.eval()
    p = np.array(m(Xva)) * ys + ym
    m.train()
    return float(np.mean(np.abs(p - yva))), float(np.mean((p - yva) ** 2))


def fit(name, kw):
    mx.random.seed(3)
    order = np.random.default_rng(3)
    m = AttenuationNet(**kw)
    m.train()
    steps = EPOCHS * (len(xtr) // BATCH)
    opt = optim.AdamW(learning_rate=optim.step_decay(3e-3, 0.3, steps // 3), weight_decay=1e-4)
    vg = nn.value_and_grad(m, lambda mod, x, t: nn.losses.huber_loss(mod(x), t, delta=0.5, reduction="mean"))
    t0 = time.time()
    hist = []
    for ep in range(EPOCHS):
        perm = order.permutation(len(xtr))
        for b in range(len(xtr) // BATCH):
            idx = mx.array(perm[b * BATCH:(b + 1) * BATCH])
            loss, g = vg(m, Xtr[idx], Ttr[idx])
            opt.update(m, g)
            mx.eval(loss, m.parameters(), opt.state)
        hist.append(val_mae(m)[0])
    mae, mse = val_mae(m)
    nparam = sum(v.size for _, v in tree_flatten(m.trainable_parameters()))
    print(f"  {name:<13s} done in {time.time() - t0:5.1f}s  val MAE {mae:.3f} pts", flush=True)
    return dict(name=name, params=nparam, ep1=hist[0], best=min(hist), best_ep=int(np.argmin(hist)) + 1,
                mae=mae, mse=mse, secs=time.time() - t0)


print(f"wort records: {len(xtr)} train / {len(xva)} valid, attenuation sd {ys:.2f} pts, noise sd {NOISE}")
rows = [fit(n, kw) for n, kw in VARIANTS]
var = float(np.var(yva))
c_mse = float(np.mean((ym - yva) ** 2))

print()
print('{| class="wikitable sortable"')
print("|+ Attenuation model ablation (validation, % points)")
print("! variant !! params !! MAE ep1 !! best MAE (ep) !! final MAE !! RMSE !! skill vs constant")
for r in rows:
    print("|-")
    print(f"| {r['name']} || {r['params']} || {r['ep1']:.3f} || {r['best']:.3f} ({r['best_ep']}) || "
          f"{r['mae']:.3f} || {np.sqrt(r['mse']):.3f} || {100 * (1 - r['mse'] / c_mse):+.1f}%")
print("|-")
print(f"| constant (train mean) || 1 || - || - || {np.mean(np.abs(ym - yva)):.3f} || {np.sqrt(c_mse):.3f} || +0.0%")
print("|-")
print(f"| noise floor || - || - || - || {NOISE * np.sqrt(2 / np.pi):.3f} || {NOISE:.3f} || "
      f"{100 * (1 - NOISE ** 2 / c_mse):+.1f}%")
print("|}")
