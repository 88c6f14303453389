"""Fountain-pen ink feathering: regress the feathered line width (mm) of a
written stroke from paper / ink / nib readings. Three seeds, each a fresh
model whose learning rate warms up from exactly zero; one JSON line per
eval, plus a gradient audit of the hand-written softplus VJP."""
import json, math, time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
N_TR, N_TE = 6000, 1500


def make_paper(n):
    gsm = rng.uniform(60, 120, n)           # paper weight
    sizing = rng.uniform(0, 1, n)           # surface sizing
    visc = rng.lognormal(0.0, 0.3, n)       # ink viscosity (cP rel.)
    nib = rng.choice([0.38, 0.5, 0.7, 0.9, 1.1], n)  # EF..B nib, mm
    rh = rng.uniform(25, 85, n)             # relative humidity %
    speed = rng.uniform(2, 12, n)           # cm/s writing speed
    wet = nib * (1.0 + 0.9 * np.exp(-speed / 5.0)) / np.sqrt(visc)
    spread = 0.35 * (1 - sizing) ** 1.5 * (120 / gsm) * (1 + 0.012 * (rh - 25))
    width = wet * (1 + spread) + 0.02 * rng.standard_normal(n)
    X = np.stack([gsm, sizing, np.log(visc), nib, rh, speed], 1)
    return X.astype(np.float32), np.maximum(width, 0.05).astype(np.float32)


Xtr, ytr = make_paper(N_TR)
Xte, yte = make_paper(N_TE)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
Xtr, ytr, Xte, yte = map(mx.array, (Xtr, ytr, Xte, yte))


@mx.custom_function
def soft_width(z):
    return mx.logaddexp(z, 0.0)


@soft_width.vjp
def soft_width_vjp(z, cotangent, output):
    return cotangent * mx.sigmoid(z)


class FeatherNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return soft_width(self.out(h)).squeeze(-1)


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


# --- audit: hand-written VJP against autodiff of the same expression
z = mx.linspace(-6, 6, 41)
g_custom = mx.grad(lambda t: soft_width(t).sum())(z)
g_auto = mx.grad(lambda t: mx.logaddexp(t, 0.0).sum())(z)
print(f"vjp audit: max|d| = {mx.abs(g_custom - g_auto).max().item():.2e}  "
      f"norm = {mx.linalg.norm(g_custom).item():.4f}")

base_mae_um = 1000 * mx.abs(yte - ytr.mean()).mean().item()
base_var = mx.var(yte).item()
EPOCHS, BS = 10, 100
steps_per_epoch = N_TR // BS
total = EPOCHS * steps_per_epoch
summary = []
t0 = time.time()
for seed in (0, 1, 2):
    mx.random.seed(seed)
    model = FeatherNet()
    warm = optim.linear_schedule(0.0, 3e-3, 120)
    decay = optim.cosine_decay(3e-3, total - 120, 3e-5)
    opt = optim.Adam(learning_rate=optim.join_schedules([warm, decay], [120]))
    step = nn.value_and_grad(model, mse)
    opt.init(model.trainable_parameters())
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(xb, yb):
        loss, grads = step(model, xb, yb)
        opt.update(model, grads)
        return loss

    if seed == 0:
        _, g0 = nn.value_and_grad(model, mse)(model, Xtr[:256], ytr[:256])
        zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0]
        print(f"params with zero grad: {zero}")
    it = 0
    for ep in range(EPOCHS):
        perm = mx.array(np.random.default_rng(100 * seed + ep).permutation(N_TR))
        run = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BS:(b + 1) * BS]
            lr_now = opt.learning_rate.item()
            loss = train_step(Xtr[idx], ytr[idx])
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            it += 1
            if it == 1:
                print(json.dumps({"seed": seed, "it": it, "lr": lr_now,
                                  "loss": round(loss.item(), 5)}))
        if ep % 3 == 2 or ep == EPOCHS - 1:
            pred = model(Xte)
            mae_um = 1000 * mx.abs(pred - yte).mean().item()
            r2 = 1 - mx.mean((pred - yte) ** 2).item() / base_var
            print(json.dumps({"seed": seed, "epoch": ep + 1, "it": it,
                              "train_mse": round(run / steps_per_epoch, 5),
                              "mae_um": round(mae_um, 1), "mean_guess_um": round(base_mae_um, 1),
                              "r2": round(r2, 4), "lr": round(opt.learning_rate.item(), 6)}))
    summary.append((seed, mae_um, r2))

print("seed | mae um | r2")
for s, m, r in summary:
    print(f"{s:>4} | {m:6.1f} | {r:.4f}")
print(f"mean r2 {np.mean([r for *_, r in summary]):.4f}  ({time.time() - t0:.1f}s)")
