# Brewing: learn hop bitterness (IBU) from recipe settings, Tinseth-formula data.
import time, math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)

def tinseth(og, alpha, grams, minutes, litres):
    bigness = 1.65 * 0.000125 ** (og - 1.0)
    boil = (1 - np.exp(-0.04 * minutes)) / 4.15
    mgl = alpha * grams * 1000.0 / litres
    return bigness * boil * mgl

def make(n):
    og = rng.uniform(1.030, 1.095, n)
    alpha = rng.uniform(0.03, 0.16, n)
    grams = np.exp(rng.uniform(np.log(5), np.log(120), n))
    minutes = rng.choice([0, 5, 10, 15, 20, 30, 45, 60, 75, 90], n).astype(np.float64) + rng.uniform(0, 3, n)
    litres = rng.uniform(10, 40, n)
    ibu = tinseth(og, alpha, grams, minutes, litres) * np.exp(rng.normal(0, 0.04, n)) + 0.5
    X = np.stack([(og - 1.06) * 40, alpha * 10, np.log(grams), np.log1p(minutes), np.log(litres)], 1)
    return X.astype(np.float32), np.log(ibu).astype(np.float32)

Xtr, ytr = make(7000)
Xva, yva = make(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
Xtr = (Xtr - mu) / sd; Xva = (Xva - mu) / sd
Xtr, Xva = mx.array(Xtr), mx.array(Xva)
ttr, tva = mx.array((ytr - ym) / ys), mx.array((yva - ym) / ys)

class IBUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(5, 64)
        self.h1 = nn.Linear(64, 64)
        self.h2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)
    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.h1(h))
        h = h + nn.gelu(self.h2(h))
        return self.out(h).squeeze(-1)

mx.random.seed(3)
model = IBUNet()
opt = optim.Adafactor(learning_rate=None, relative_step=True, warmup_init=False)

def loss_fn(m, x, t):
    return nn.losses.huber_loss(m(x), t, delta=0.5, reduction="mean")

vg = nn.value_and_grad(model, loss_fn)

def ibu_err(pred_std, tgt_std):
    p = mx.exp(pred_std * ys + ym); t = mx.exp(tgt_std * ys + ym)
    rel = mx.abs(p - t) / t
    return mx.mean(mx.abs(p - t)).item(), mx.mean(rel).item()

t0 = time.time()
print("ibu_fit.c: In function 'main':")
l0, g0 = vg(model, Xtr[:128], ttr[:128])
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
print(f"ibu_fit.c:1:1: note: gradient check: {len(leaves)} leaves, {len(zero)} all-zero, initial huber {l0.item():.4f}")
mae0, _ = ibu_err(mx.zeros_like(tva), tva)
print(f"ibu_fit.c:2:1: note: constant-mean baseline MAE {mae0:.2f} IBU on {Xva.shape[0]} held-out recipes")

B = 64
nwarn = 0
steps_per_epoch = Xtr.shape[0] // B
for epoch in range(1, 13):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * B:(i + 1) * B]
        loss, g = vg(model, Xtr[idx], ttr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    pv = model(Xva)
    vloss = nn.losses.huber_loss(pv, tva, delta=0.5, reduction="mean").item()
    mae, mre = ibu_err(pv, tva)
    sev = "warning" if mre > 0.10 else "note"
    nwarn += sev == "warning"
    print(f"ibu_fit.c:{10 + epoch}:5: {sev}: epoch {epoch:02d} train_huber={tot / steps_per_epoch:.5f} "
          f"valid_huber={vloss:.5f} valid_mae={mae:.2f}IBU valid_mre={100 * mre:.2f}% [{time.time() - t0:.1f}s] [-Wepoch]")

probe = np.array([[1.050, 0.12, 28.0, 60.0, 20.0], [1.080, 0.05, 40.0, 15.0, 23.0], [1.040, 0.10, 15.0, 5.0, 19.0]])
true = tinseth(*probe.T) + 0.5
feat = np.stack([(probe[:, 0] - 1.06) * 40, probe[:, 1] * 10, np.log(probe[:, 2]), np.log1p(probe[:, 3]), np.log(probe[:, 4])], 1)
pred = np.exp(np.array(model(mx.array(((feat - mu) / sd).astype(np.float32)))) * ys + ym)
for k in range(3):
    print(f"ibu_fit.c:40:{k + 1}: note: recipe {k}: model {pred[k]:.1f} IBU vs Tinseth {true[k]:.1f} IBU")
print(f"0 errors, {nwarn} warnings generated (warning = valid relative error above 10%); elapsed {time.time() - t0:.1f}s")
