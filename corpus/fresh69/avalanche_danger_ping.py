# Avalanche danger level (1..5) from snowpack observations, ordinal (cumulative-logit) head, Lion.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
K = 5


def make(n):
    new_snow = rng.gamma(1.5, 12.0, n)              # cm in 24h
    wind = rng.uniform(0, 70, n)                    # km/h
    dtemp = rng.normal(0, 4, n)                     # warming over 24h, C
    aspect = rng.uniform(0, 2 * np.pi, n)
    weak = (rng.random(n) < 0.3).astype(np.float64)  # buried weak layer
    slope = rng.uniform(20, 45, n)
    z = (0.045 * new_snow + 0.025 * wind * (new_snow > 10) + 0.18 * np.maximum(dtemp, 0)
         + 1.1 * weak + 0.35 * np.cos(aspect) + 0.06 * (slope - 30))
    z = z + rng.logistic(0, 0.45, n)
    cuts = np.array([0.6, 1.6, 2.6, 3.6])
    y = (z[:, None] > cuts[None, :]).sum(1)
    X = np.stack([np.log1p(new_snow), wind / 35, dtemp / 4, np.sin(aspect), np.cos(aspect),
                  weak, (slope - 32) / 7], 1)
    return X.astype(np.float32), y.astype(np.int32)


Xtr, ytr = make(6000)
Xva, yva = make(1500)


class Coral(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.score = nn.Linear(48, 1, bias=False)
        self.cut = mx.array(np.linspace(-1.5, 1.5, K - 1).astype(np.float32))

    def __call__(self, x):
        return self.score(self.body(x)) - self.cut  # (B, K-1) cumulative logits


def loss_fn(model, x, y):
    logits = model(x)
    levels = (y[:, None] > mx.arange(K - 1)[None, :]).astype(mx.float32)
    return nn.losses.binary_cross_entropy(logits, levels, with_logits=True, reduction="mean")


def predict(model, x):
    return (model(x) > 0).sum(1)


model = Coral(Xtr.shape[1])
mx.eval(model.parameters())
opt = optim.Lion(learning_rate=1e-3, betas=[0.9, 0.99], weight_decay=0.01)
vg = nn.value_and_grad(model, loss_fn)

# gradient audit on the first batch
l0, g0 = vg(model, mx.array(Xtr[:64]), mx.array(ytr[:64]))
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
print(f"PING danger.model.local (10.0.5.{len(leaves)}): {len(leaves)} grad leaves, "
      f"{len(zero)} zero, loss0 {float(l0):.4f}, ln2 {np.log(2):.4f}")

xv, yv = mx.array(Xva), mx.array(yva)
t0 = time.time()
times = []
bs = 64
epochs = 14
for ep in range(1, epochs + 1):
    perm = rng.permutation(len(Xtr))
    run, nb = 0.0, 0
    te = time.time()
    for i in range(0, len(perm) - bs + 1, bs):
        idx = mx.array(perm[i:i + bs])
        l, g = vg(model, mx.array(Xtr)[idx], mx.array(ytr)[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, l)
        run += float(l)
        nb += 1
    vl = float(loss_fn(model, xv, yv))
    p = predict(model, xv)
    acc = float((p == yv).mean())
    mae = float(mx.abs(p - yv).astype(mx.float32).mean())
    ms = (time.time() - te) * 1000
    times.append(ms)
    print(f"64 bytes from danger.model.local: icmp_seq={ep} ttl={64 - ep} time={ms:.1f} ms "
          f"train_bce={run / nb:.4f} valid_bce={vl:.4f} valid_acc={acc:.3f} valid_mae_levels={mae:.3f}")

print()
print("--- danger.model.local ping statistics ---")
print(f"{epochs} packets transmitted, {epochs} received, 0% packet loss, time {(time.time() - t0) * 1000:.0f}ms")
print(f"rtt min/avg/max = {min(times):.1f}/{np.mean(times):.1f}/{max(times):.1f} ms")
p = np.array(predict(model, xv))
for k in range(K):
    m = yva == k
    print(f"level {k + 1}: n={int(m.sum())} recall={float((p[m] == k).mean()) if m.any() else float('nan'):.3f}")
