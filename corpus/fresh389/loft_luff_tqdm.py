"""Sail loft: bias stretch (%) of laminated sailcloth under a test load,
regressed from loft test readings.  Trained in two sessions with a checkpoint."""
import os
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten
from tqdm import tqdm

rng = np.random.default_rng(21)
N_TR, N_VA = 12000, 3000
n = N_TR + N_VA
denier = rng.uniform(200, 1500, n)
warp = rng.uniform(20, 60, n)
weft = rng.uniform(20, 60, n)
resin = rng.uniform(5, 25, n)
bias = rng.uniform(0, 45, n)
load = rng.uniform(50, 600, n)
calender = rng.uniform(140, 200, n)
stiff = (np.log(denier) * (warp + weft) / 40 + 0.08 * resin
         + 0.02 * (calender - 170) * (resin > 12))
stretch = 0.9 * load / (100 * stiff) * (1 + 1.6 * np.sin(np.radians(bias)) ** 2)
stretch = stretch + rng.normal(0, 0.05, n)
X = np.stack([denier, warp, weft, resin, bias, load, calender], 1).astype(np.float32)
y = stretch.astype(np.float32)
mu, sd = X[:N_TR].mean(0), X[:N_TR].std(0)
Xn = (X - mu) / sd
ym, ys = y[:N_TR].mean(), y[:N_TR].std()
yn = (y - ym) / ys
xtr, ytr = mx.array(Xn[:N_TR]), mx.array(yn[:N_TR])
xva, yva = mx.array(Xn[N_TR:]), mx.array(yn[N_TR:])
y_va_raw = y[N_TR:]

# reference fits printed beside the network
rmse_mean = float(np.sqrt(np.mean((y_va_raw - y[:N_TR].mean()) ** 2)))
A = np.c_[Xn[:N_TR], np.ones(N_TR)]
coef, *_ = np.linalg.lstsq(A, y[:N_TR], rcond=None)
lin_pred = np.c_[Xn[N_TR:], np.ones(N_VA)] @ coef
rmse_lin = float(np.sqrt(np.mean((y_va_raw - lin_pred) ** 2)))


class StretchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, t):
    return nn.losses.mse_loss(model(x), t)


def valid_rmse(model):
    pred = model(xva) * ys + ym
    mx.eval(pred)
    return float(np.sqrt(np.mean((np.array(pred) - y_va_raw) ** 2))), np.array(pred)


BATCH = 64
SPE = N_TR // BATCH
EPOCHS = 10
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, SPE), optim.cosine_decay(3e-3, (EPOCHS - 1) * SPE, 5e-5)],
    [SPE])


def make_opt():
    return optim.Adafactor(learning_rate=sched, relative_step=False, scale_parameter=False)


def run_epochs(model, opt, first, last):
    vg = nn.value_and_grad(model, loss_fn)
    for ep in range(first, last + 1):
        perm = mx.array(rng.permutation(N_TR))
        bar = tqdm(range(SPE), desc=f"epoch {ep:2d}", ncols=90, mininterval=0.5, leave=False)
        acc = 0.0
        for i in bar:
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss, g = vg(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            acc += loss.item()
            if i % 20 == 0:
                bar.set_description(f"epoch {ep:2d} mse {acc / (i + 1):.4f} lr {opt.learning_rate.item():.2e}")
        bar.close()
        rm, _ = valid_rmse(model)
        tqdm.write(f"epoch {ep:2d} | train mse(z) {acc / SPE:.5f} | valid rmse {rm:.4f} pct-pts "
                   f"| lr {opt.learning_rate.item():.2e}")


tqdm.write("=" * 72)
tqdm.write(f"LOFT DATA  train {N_TR}  valid {N_VA}  stretch range {y.min():.2f}-{y.max():.2f} %")
tqdm.write(f"reference  predict-the-mean rmse {rmse_mean:.4f}   least-squares line rmse {rmse_lin:.4f}")
tqdm.write("=" * 72)

ckpt = tempfile.mkdtemp()
mx.random.seed(5)
model = StretchNet()
opt = make_opt()
tqdm.write(f"untrained valid rmse {valid_rmse(model)[0]:.4f}")
tqdm.write(">>> SESSION 1: epochs 1-5 (warm-up from lr 0 through epoch 1)")
t0 = time.perf_counter()
run_epochs(model, opt, 1, 5)
model.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
saved_rmse = valid_rmse(model)[0]
saved_step = int(opt.state["step"].item())
tqdm.write(f">>> checkpoint written: step {saved_step}, valid rmse {saved_rmse:.4f}, "
           f"{time.perf_counter() - t0:.1f}s")
del model, opt

tqdm.write(">>> SESSION 2: fresh model and optimizer, resuming from checkpoint")
mx.random.seed(99)
model = StretchNet()
model.load_weights(os.path.join(ckpt, "model.safetensors"))
opt = make_opt()
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
tqdm.write(f">>> restored: step {int(opt.state['step'].item())}, valid rmse "
           f"{valid_rmse(model)[0]:.4f} (saved {saved_rmse:.4f}), lr {opt.learning_rate.item():.2e}")
run_epochs(model, opt, 6, EPOCHS)

rm, pred = valid_rmse(model)
tqdm.write("=" * 72)
tqdm.write("RESULTS by test load band (rmse, percentage points of stretch)")
ld = load[N_TR:]
for lo, hi in [(50, 200), (200, 400), (400, 600)]:
    m = (ld >= lo) & (ld < hi)
    r_net = np.sqrt(np.mean((pred[m] - y_va_raw[m]) ** 2))
    r_lin = np.sqrt(np.mean((lin_pred[m] - y_va_raw[m]) ** 2))
    tqdm.write(f"  load {lo:3d}-{hi:3d} N   net {r_net:.4f}   line {r_lin:.4f}   n={m.sum()}")
tqdm.write(f"  all             net {rm:.4f}   line {rmse_lin:.4f}   mean {rmse_mean:.4f}   noise sd 0.05")
tqdm.write("=" * 72)
