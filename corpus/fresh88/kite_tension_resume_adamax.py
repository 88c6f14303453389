# Kite line tension regression, trained in two sessions: session 1 writes a
# checkpoint (weights + optimizer state), session 2 rebuilds everything and resumes.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
N, NV = 9000, 1500

def make(n):
    wind = rng.uniform(2, 14, n)        # m/s
    area = rng.uniform(0.5, 4.0, n)     # m2
    line = rng.uniform(20, 120, n)      # m
    angle = rng.uniform(20, 70, n)      # deg elevation
    gust = rng.uniform(0, 1, n)
    t = 0.6 * area * wind**2 * np.cos(np.radians(angle)) ** 0.5 * (1 + 0.4 * gust) + 0.05 * line
    t = t + rng.normal(0, 2.0, n)
    X = np.stack([wind, area, line, angle, gust], 1).astype(np.float32)
    return X, t.astype(np.float32)

Xtr, ytr = make(N); Xva, yva = make(NV)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr = mx.array((Xtr - mu) / sd); Xva = mx.array((Xva - mu) / sd)
ytr_s = mx.array((ytr - ymu) / ysd); yva_np = yva

class KiteNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 192)
        self.l2 = nn.Linear(192, 192)
        self.out = nn.Linear(192, 1)
    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)

def loss_fn(model, xb, yb):
    return nn.losses.mse_loss(model(xb), yb)

def val_mae(model):
    p = np.array(model(Xva)) * ysd + ymu
    return float(np.abs(p - yva_np).mean())

def run_epochs(model, opt, first_epoch, n_epochs, perm_rng, check_grads=False):
    vg = nn.value_and_grad(model, loss_fn)
    for ep in range(first_epoch, first_epoch + n_epochs):
        t0 = time.time(); order = perm_rng.permutation(N); tot, nb = 0.0, 0
        for i in range(0, N - 63, 64):
            idx = mx.array(order[i:i + 64])
            loss, g = vg(model, Xtr[idx], ytr_s[idx])
            if check_grads:
                flat = tree_flatten(g)
                zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
                print(f"gradient leaves: {len(flat)}; all-zero leaves: {zero}")
                check_grads = False
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        print(f"epoch {ep:2d}: train mse (std units) {tot/nb:.4f}; val MAE {val_mae(model):.3f} N; "
              f"step {int(opt.step)}; {time.time()-t0:.1f}s")

ckdir = tempfile.mkdtemp(prefix="kite_ck_")
wpath = os.path.join(ckdir, "kite.safetensors")
opath = os.path.join(ckdir, "kite_opt.safetensors")

print(f"data: {N} train / {NV} val flights; predict-mean val MAE {np.abs(yva_np - ymu).mean():.3f} N")
print("session 1 -- fresh start")
mx.random.seed(3)
model = KiteNet()
opt = optim.Adamax(learning_rate=2e-3)
print(f"epoch  0: untrained val MAE {val_mae(model):.3f} N")
run_epochs(model, opt, 1, 10, np.random.default_rng(11), check_grads=True)
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
mae1 = val_mae(model)
print(f"checkpoint written to {ckdir} (val MAE {mae1:.3f} N)")
del model, opt

print("session 2 -- resume from checkpoint")
mx.random.seed(99)  # different init on purpose: the checkpoint must overwrite it
model = KiteNet()
model.load_weights(wpath)
opt = optim.Adamax(learning_rate=2e-3)
opt.state = tree_unflatten(list(mx.load(opath).items()))
mx.eval(model.parameters(), opt.state)
mae2 = val_mae(model)
print(f"resumed: val MAE {mae2:.3f} N (matches checkpoint: {abs(mae1 - mae2) < 1e-4}); optimizer step {int(opt.step)}")
run_epochs(model, opt, 11, 10, np.random.default_rng(12))
import shutil; shutil.rmtree(ckdir)
print(f"done: final val MAE {val_mae(model):.3f} N (noise floor ~{2.0*np.sqrt(2/np.pi):.2f} N)")
