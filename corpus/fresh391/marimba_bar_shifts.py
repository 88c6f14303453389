# Marimba bar voicing: cents a rosewood bar sits off its target fundamental after a cut,
# from arch depth/position and wood measurements. Training runs in four shifts; each shift
# ends by writing weights, optimizer state and the data cursor to disk and dropping every
# object, and the next shift rebuilds everything from those files. Between shifts a long
# Monte-Carlo-dropout evaluation runs over the whole held-out set.
import json, os, shutil, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

data_rng = np.random.default_rng(21)

def make(n):
    depth = data_rng.uniform(1, 9, n)        # arch depth mm
    pos = data_rng.uniform(0.3, 0.7, n)      # arch centre as share of length
    length = data_rng.uniform(250, 600, n)   # mm
    dens = data_rng.normal(1.0, 0.07, n)     # relative density
    moist = data_rng.uniform(7, 13, n)       # % moisture
    grain = data_rng.uniform(0, 20, n)       # grain run-out deg
    cents = (-38 * depth * np.exp(-((pos - 0.5) / 0.12) ** 2) + 9 * depth
             - 0.05 * (length - 420) - 90 * (dens - 1) + 4.5 * (moist - 10)
             - 0.4 * grain + data_rng.normal(0, 3.0, n))
    X = np.stack([depth, pos, length, dens, moist, grain], 1).astype(np.float32)
    return X, cents.astype(np.float32)

Xtr, ytr = make(5000)
Xva, yva = make(12000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr_m, ytr_m = mx.array((Xtr - mu) / sd), mx.array((ytr - ymu) / ysd)
Xva_m = mx.array((Xva - mu) / sd)


class BarNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 64)
        self.b = nn.Linear(64, 64)
        self.c = nn.Linear(64, 1)
        self.drop = nn.Dropout(0.1)

    def __call__(self, x):
        h = self.drop(nn.gelu(self.a(x)))
        h = self.drop(nn.gelu(self.b(h)))
        return self.c(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


def mc_eval(model, passes=24):
    model.train()  # dropout on for Monte-Carlo passes
    preds = []
    for _ in range(passes):
        chunk = [model(Xva_m[i:i + 2000]) for i in range(0, Xva_m.shape[0], 2000)]
        preds.append(np.array(mx.concatenate(chunk)) * ysd + ymu)
    preds = np.stack(preds)
    m, s = preds.mean(0), preds.std(0)
    rmse = float(np.sqrt(((m - yva) ** 2).mean()))
    within5 = 100.0 * float((np.abs(m - yva) < 5).mean())
    return rmse, within5, float(s.mean())


ckdir = tempfile.mkdtemp(prefix="marimba_")
SHIFT_STEPS, SHIFTS, BATCH = 400, 4, 64
print(f'[data]\ntrain_bars = {len(ytr)}\nvalid_bars = {len(yva)}\nstd_cents = {yva.std():.2f}\nnoise_sd_cents = 3.0\n')

t_all = time.perf_counter()
for shift in range(1, SHIFTS + 1):
    mx.random.seed(100 + shift)
    model = BarNet()
    opt = optim.Lion(learning_rate=optim.cosine_decay(1.5e-3, SHIFT_STEPS * SHIFTS, 1e-6), weight_decay=0.01)
    opt.init(model.trainable_parameters())
    if shift == 1:
        state = {"step": 0, "cursor": 0, "perm_seed": 0}
        resumed = "no"
    else:
        model.load_weights(os.path.join(ckdir, "weights.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
        with open(os.path.join(ckdir, "meta.json")) as f:
            state = json.load(f)
        resumed = f"yes (opt.step {int(opt.state['step'].item())}, cursor {state['cursor']})"
    mx.eval(model.parameters(), opt.state)
    step_fn = nn.value_and_grad(model, loss_fn)
    perm = np.random.default_rng(state["perm_seed"]).permutation(len(ytr))
    cursor = state["cursor"]
    model.train()
    t0, losses = time.perf_counter(), []
    for k in range(SHIFT_STEPS):
        if cursor + BATCH > len(perm):
            state["perm_seed"] += 1
            perm = np.random.default_rng(state["perm_seed"]).permutation(len(ytr))
            cursor = 0
        idx = mx.array(perm[cursor:cursor + BATCH]); cursor += BATCH
        loss, grads = step_fn(model, Xtr_m[idx], ytr_m[idx])
        if shift == 1 and k == 0:
            leaves = tree_flatten(grads)
            zero = [n for n, g in leaves if float(mx.abs(g).max()) == 0.0]
            print(f'[check]\ngrad_leaves = {len(leaves)}\nzero_grad_leaves = {zero}\n')
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
    t_train = time.perf_counter() - t0
    step_now = int(opt.state["step"].item())
    model.save_weights(os.path.join(ckdir, "weights.safetensors"))
    mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
    state["step"], state["cursor"] = step_now, cursor
    with open(os.path.join(ckdir, "meta.json"), "w") as f:
        json.dump(state, f)
    t1 = time.perf_counter()
    rmse, w5, spread = mc_eval(model)
    t_eval = time.perf_counter() - t1
    print(f'[shift.{shift}]\nresumed = "{resumed}"\nsteps_done = {step_now}\nlr_now = {float(opt.learning_rate.item()):.3e}'
          f'\ntrain_huber_z_first50 = {np.mean(losses[:50]):.4f}\ntrain_huber_z_last50 = {np.mean(losses[-50:]):.4f}'
          f'\nvalid_rmse_cents = {rmse:.3f}\nvalid_within_5c_pct = {w5:.2f}\nmc_spread_cents = {spread:.3f}'
          f'\ntrain_seconds = {t_train:.2f}\neval_seconds = {t_eval:.2f}\n')
    del model, opt, step_fn

print(f'[done]\nshifts = {SHIFTS}\ntotal_seconds = {time.perf_counter() - t_all:.1f}')
shutil.rmtree(ckdir)
