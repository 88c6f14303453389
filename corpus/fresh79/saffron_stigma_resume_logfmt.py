"""Saffron plot yield regression, trained in two sittings with a resume from our own checkpoint."""
import json, math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten


@mx.custom_function
def softsign(x):
    return x / (1.0 + mx.abs(x))


@softsign.vjp
def softsign_vjp(primals, cotangent, output):
    x = primals  # single input: the array itself
    d = 1.0 + mx.abs(x)
    return cotangent / (d * d)


class Plot(nn.Module):
    def __init__(self, d_in=6, h=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = softsign(self.l1(x))
        x = softsign(self.l2(x)) + x
        return self.out(x).squeeze(-1)


def huber(pred, y, delta=1.0):
    r = mx.abs(pred - y)
    return mx.mean(mx.where(r < delta, 0.5 * r * r, delta * (r - 0.5 * delta)))


def make_data(n, rng):
    corm = rng.uniform(8, 30, n)          # corm weight g
    depth = rng.uniform(8, 22, n)         # planting depth cm
    rain = rng.gamma(3.0, 20.0, n)        # autumn rain mm
    ph = rng.normal(7.2, 0.5, n)
    night = rng.normal(9.0, 3.0, n)       # night temp C
    age = rng.integers(1, 6, n).astype(float)
    y = (2.2 * np.log(corm) + 0.8 * np.exp(-((depth - 15) / 5) ** 2)
         + 0.6 * np.tanh((rain - 50) / 30) - 0.9 * (ph - 7.3) ** 2
         - 0.05 * (night - 8) ** 2 + 0.5 * np.log(age) - 0.12 * (age - 3) ** 2)
    y = y + rng.normal(0, 0.25, n)        # mg stigma per corm, noise sd 0.25
    X = np.stack([corm, depth, rain, ph, night, age], 1)
    return X.astype(np.float32), y.astype(np.float32)


def logfmt(**kv):
    parts = []
    for k, v in kv.items():
        if isinstance(v, float):
            v = f"{v:.4f}"
        parts.append(f"{k}={v}")
    print(" ".join(parts), flush=True)


rng = np.random.default_rng(7)
Xtr, ytr = make_data(12000, rng)
Xva, yva = make_data(2000, rng)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_m, Xva_m = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
ytr_m, yva_m = mx.array((ytr - ymu) / ysd), mx.array((yva - ymu) / ysd)

BATCH, EPOCHS_FIRST, EPOCHS_TOTAL = 64, 6, 12
ckdir = tempfile.mkdtemp(prefix="saffron_")


def val_metrics(model):
    p = model(Xva_m)
    rmse = mx.sqrt(mx.mean((p - yva_m) ** 2)) * float(ysd)
    return float(huber(p, yva_m)), float(rmse)


def run_epochs(model, opt, first_epoch, last_epoch, perm_rng, check_grad=False):
    loss_and_grad = nn.value_and_grad(model, lambda m, x, y: huber(m(x), y))
    for ep in range(first_epoch, last_epoch + 1):
        t0 = time.perf_counter()
        order = perm_rng.permutation(len(ytr))
        total, nb = 0.0, 0
        for s in range(0, len(order) - BATCH + 1, BATCH):
            idx = mx.array(order[s:s + BATCH])
            loss, grads = loss_and_grad(model, Xtr_m[idx], ytr_m[idx])
            if check_grad:
                leaves = tree_flatten(grads)
                zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
                logfmt(event="grad_check", leaves=len(leaves), zero_leaves=",".join(zero) or "none")
                check_grad = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            total += loss.item(); nb += 1
        vh, vr = val_metrics(model)
        logfmt(event="epoch", epoch=ep, lr=float(opt.learning_rate), train_huber_std=total / nb,
               val_huber_std=vh, val_rmse_mg=vr, secs=time.perf_counter() - t0)


# ---- sitting 1 ----
mx.random.seed(0)
model = Plot()
opt = optim.Adam(learning_rate=optim.exponential_decay(2e-3, 0.9995))
logfmt(event="data", train=len(ytr), val=len(yva), y_sd_mg=float(ysd), noise_floor_mg=0.25, ckpt_dir=ckdir)
vh, vr = val_metrics(model)
logfmt(event="untrained", val_huber_std=vh, val_rmse_mg=vr, predict_mean_rmse_mg=float(yva.std()))
perm_rng = np.random.default_rng(11)
run_epochs(model, opt, 1, EPOCHS_FIRST, perm_rng, check_grad=True)

model.save_weights(os.path.join(ckdir, "plot.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "adam.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckdir, "meta.json"), "w") as f:
    json.dump({"epoch": EPOCHS_FIRST, "perm_state": perm_rng.bit_generator.state}, f)
saved_val = val_metrics(model)[1]
logfmt(event="checkpoint", epoch=EPOCHS_FIRST, val_rmse_mg=saved_val, files=len(os.listdir(ckdir)))
del model, opt

# ---- sitting 2: rebuild from scratch and resume ----
model = Plot()
model.load_weights(os.path.join(ckdir, "plot.safetensors"))
opt = optim.Adam(learning_rate=optim.exponential_decay(2e-3, 0.9995))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "adam.safetensors")).items()))
with open(os.path.join(ckdir, "meta.json")) as f:
    meta = json.load(f)
perm_rng = np.random.default_rng()
perm_rng.bit_generator.state = meta["perm_state"]
resumed_val = val_metrics(model)[1]
logfmt(event="resumed", from_epoch=meta["epoch"], step=int(opt.step.item()), lr=float(opt.learning_rate),
       val_rmse_mg=resumed_val, matches_saved=abs(resumed_val - saved_val) < 1e-6)
run_epochs(model, opt, meta["epoch"] + 1, EPOCHS_TOTAL, perm_rng)
vh, vr = val_metrics(model)
logfmt(event="done", val_rmse_mg=vr, noise_floor_mg=0.25)
import shutil; shutil.rmtree(ckdir)
