import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

# synthetic harbour tide gauge, hourly, metres
T = 16000
t = np.arange(T, dtype=np.float64)
tide = (1.10 * np.cos(2 * np.pi * t / 12.42) + 0.35 * np.cos(2 * np.pi * t / 12.0 + 0.7)
        + 0.25 * np.cos(2 * np.pi * t / 23.93 + 1.9))
surge = np.zeros(T)
for i in range(1, T):
    surge[i] = 0.97 * surge[i - 1] + rng.normal(0, 0.03)
level = 2.4 + tide + surge + rng.normal(0, 0.02, T)

LOOK, HOR = 48, 12
split = int(T * 0.8)
mu, sd = level[:split].mean(), level[:split].std()
z = ((level - mu) / sd).astype(np.float32)

def windows(lo, hi):
    starts = np.arange(lo, hi - LOOK - HOR)
    idx = starts[:, None] + np.arange(LOOK + HOR)[None, :]
    w = z[idx]
    return w[:, :LOOK], w[:, LOOK:]

xtr, ytr = windows(0, split)
xva, yva = windows(split, T)
print(f"gauge hours={T} train_windows={len(xtr)} valid_windows={len(xva)} mean={mu:.3f}m sd={sd:.3f}m")

class Seq2Seq(nn.Module):
    def __init__(self, h=32):
        super().__init__()
        self.enc = nn.GRU(1, h)
        self.dec = nn.GRU(1, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x, y=None, tf_mask=None):
        hs = self.enc(x[..., None])
        hidden = hs[:, -1]
        prev = x[:, -1:]
        preds = []
        for k in range(HOR):
            hidden = self.dec(prev[:, None, :], hidden)[:, -1]
            p = self.out(hidden)
            preds.append(p)
            if y is not None and tf_mask[k]:
                prev = y[:, k:k + 1]
            else:
                prev = p
        return mx.concatenate(preds, axis=1)

model = Seq2Seq()
mx.eval(model.parameters())

def loss_fn(m, x, y, tf_mask):
    return nn.losses.mse_loss(m(x, y, tf_mask), y)

vg = nn.value_and_grad(model, loss_fn)
EPOCHS, BS = 6, 64
steps_per = 25
sched = optim.cosine_decay(3e-3, EPOCHS * steps_per, 1e-4)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

def evaluate():
    p = model(mx.array(xva))
    err = (p - mx.array(yva)) * sd
    rmse_h = mx.sqrt(mx.mean(err * err, axis=0))
    mx.eval(rmse_h)
    return np.array(rmse_h)

persist = np.sqrt(((yva - xva[:, -1:]) ** 2).mean(axis=0)) * sd
print(f"persistence rmse_m h1={persist[0]:.3f} h6={persist[5]:.3f} h12={persist[11]:.3f}")

x0, y0 = mx.array(xtr[:BS]), mx.array(ytr[:BS])
_, g = vg(model, x0, y0, [True] * HOR)
leaves = [v for _, v in __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(g)]
print(f"grad leaves nonzero={sum(int(mx.any(v != 0).item()) for v in leaves)}/{len(leaves)}")

t0 = time.time()
for ep in range(1, EPOCHS + 1):
    # teacher-forcing ratio falls linearly 1.0 -> 0.0 over the epochs
    ratio = max(0.0, 1.0 - (ep - 1) / (EPOCHS - 2))
    perm = rng.permutation(len(xtr))
    tot = 0.0
    for b in range(steps_per):
        ids = mx.array(perm[b * BS:(b + 1) * BS])
        tf_mask = list(rng.random(HOR) < ratio)
        loss, grads = vg(model, mx.array(xtr)[ids], mx.array(ytr)[ids], tf_mask)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    r = evaluate()
    print(f"epoch={ep} tf_ratio={ratio:.2f} lr={float(sched(opt.step)):.2e} train_mse_z={tot/steps_per:.4f} "
          f"val_rmse_m h1={r[0]:.3f} h6={r[5]:.3f} h12={r[11]:.3f} secs={time.time()-t0:.1f}")

r = evaluate()
print(f"done skill_vs_persistence_h12={100*(1-r[11]/persist[11]):.1f}%")
