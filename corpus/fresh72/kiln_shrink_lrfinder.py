"""Ceramics: predict firing shrinkage (%) of a clay test tile.
First an LR range test (exponential sweep, loss blows up at the end on purpose),
then the real run from FRESH weights with lr picked from the sweep."""
import logging, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s kiln: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("kiln")

rng = np.random.default_rng(7)
def make_tiles(n):
    cone = rng.uniform(4, 11, n)            # pyrometric cone reached
    kaolin = rng.uniform(0.1, 0.6, n)        # kaolin fraction
    ball = rng.uniform(0.05, 0.4, n)         # ball clay fraction
    grog = rng.uniform(0.0, 0.25, n)         # grog fraction
    water = rng.uniform(0.18, 0.30, n)       # water of plasticity
    soak = rng.uniform(0, 60, n)             # soak minutes at peak
    vitr = 1 / (1 + np.exp(-(cone - 7.5 + 2.5 * ball - 1.5 * kaolin) * 1.1))
    shrink = (4.0 + 18 * water + 5.5 * ball - 9 * grog + 6.5 * vitr * (1 - grog)
              + 0.02 * soak * vitr + rng.normal(0, 0.25, n))
    X = np.stack([cone, kaolin, ball, grog, water, soak], 1).astype(np.float32)
    return X, shrink.astype(np.float32)

Xtr, ytr = make_tiles(20000)
Xva, yva = make_tiles(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
Xtr_m, Xva_m = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
ytr_m, yva_m = mx.array((ytr - ym) / ys), mx.array((yva - ym) / ys)

class ShrinkNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 128)
        self.l2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, 1)
    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        return self.out(x).squeeze(-1)

def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)

def val_rmse_pct(model):
    return math.sqrt(nn.losses.mse_loss(model(Xva_m), yva_m).item()) * ys

# ---------------- LR range test ----------------
mx.random.seed(0)
probe = ShrinkNet()
opt = optim.Adam(learning_rate=1e-5)
vg = nn.value_and_grad(probe, loss_fn)
lr_lo, lr_hi, n_sweep = 1e-5, 3.0, 120
sweep = []
smooth = None
t0 = time.time()
for i in range(n_sweep):
    lr = lr_lo * (lr_hi / lr_lo) ** (i / (n_sweep - 1))
    opt.learning_rate = lr
    idx = mx.array(rng.integers(0, len(Xtr), 64))
    loss, g = vg(probe, Xtr_m[idx], ytr_m[idx])
    opt.update(probe, g)
    mx.eval(probe.parameters(), opt.state, loss)
    l = loss.item()
    smooth = l if smooth is None else 0.8 * smooth + 0.2 * l
    sweep.append((lr, smooth))
    if i % 20 == 0 or i == n_sweep - 1:
        log.info("range-test step %3d lr=%.2e smoothed_loss=%.4f", i, lr, smooth)
    if not math.isfinite(smooth) or smooth > 4 * min(s for _, s in sweep):
        log.info("range-test stopped at step %d: loss %.3g exploded (expected at lr=%.2e)", i, smooth, lr)
        break
best_lr, best_l = min(sweep, key=lambda t: t[1])
lr_use = best_lr / 10
log.info("range-test done in %.1fs: min smoothed loss %.4f at lr=%.2e -> training lr %.2e",
         time.time() - t0, best_l, best_lr, lr_use)
del probe, opt

# ---------------- real run, fresh weights ----------------
mx.random.seed(1)
model = ShrinkNet()
log.info("fresh model; untrained valid RMSE %.3f %% (predict-mean %.3f %%)", val_rmse_pct(model), float(yva.std()))
opt = optim.Adam(learning_rate=lr_use)
vg = nn.value_and_grad(model, loss_fn)

loss, g = vg(model, Xtr_m[:64], ytr_m[:64])
leaves = tree_flatten(g)
nz = sum(1 for _, v in leaves if mx.abs(v).max().item() > 0)
log.info("gradient check: %d/%d leaves non-zero at step 0", nz, len(leaves))

bs, epochs = 32, 14
steps = 0
t0 = time.time()
for ep in range(1, epochs + 1):
    perm = mx.array(rng.permutation(len(Xtr)))
    tot, nb = 0.0, 0
    for s in range(0, len(Xtr) - bs + 1, bs):
        idx = perm[s:s + bs]
        loss, g = vg(model, Xtr_m[idx], ytr_m[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1; steps += 1
    log.info("epoch %2d/%d train_mse(std)=%.4f valid_rmse=%.3f %%shrink steps=%d %.1fs",
             ep, epochs, tot / nb, val_rmse_pct(model), steps, time.time() - t0)
log.info("done: final valid RMSE %.3f %% shrinkage (noise floor 0.25)", val_rmse_pct(model))
