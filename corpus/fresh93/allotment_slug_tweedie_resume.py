"""Weekly slug damage on allotment plots (grams of lettuce lost), Tweedie regression.

Some plot-weeks lose nothing and a few lose a lot, so the target is a compound
Poisson-gamma amount and we fit a log-link MLP with the Tweedie deviance
(power 1.5).  Training runs in two sessions: the first writes a checkpoint
(weights + optimizer state + step) to a temporary folder, the second starts a
new process-like context (fresh model and optimizer objects), restores it and
carries on under the same global cosine schedule.

The report is printed as a LaTeX tabular so it can be pasted into the
society's newsletter.  D^2 is the share of the intercept-only deviance that
the model explains (higher is better; ~0 means no better than the mean).
"""
import json
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

POWER = 1.5
TOTAL_STEPS = 1400
SESSION_1_STEPS = 600
BATCH = 256
REPORT = 100

rng = np.random.default_rng(2024)


def simulate(n):
    rain = rng.gamma(2.0, 6.0, n)             # mm over the week
    temp = rng.normal(14.0, 4.0, n)           # deg C
    mulch = rng.binomial(1, 0.4, n)           # straw mulch on the bed
    copper = rng.binomial(1, 0.3, n)          # copper tape round the bed
    hedgehog = rng.poisson(0.8, n)            # sightings that week
    traps = rng.integers(0, 4, n)             # beer traps
    log_mu = (
        2.2
        + 0.9 * np.tanh((rain - 10.0) / 8.0)
        - 0.05 * (temp - 15.0) ** 2 / 4.0
        + 0.5 * mulch
        - 0.8 * copper
        - 0.35 * hedgehog
        - 0.25 * traps * (rain > 8)
    )
    mu = np.exp(log_mu)
    # compound Poisson-gamma draw with power 1.5 and dispersion phi
    phi = 2.0
    lam = mu ** (2 - POWER) / (phi * (2 - POWER))
    alpha = (2 - POWER) / (POWER - 1)
    scale = phi * (POWER - 1) * mu ** (POWER - 1)
    counts = rng.poisson(lam)
    y = np.array([rng.gamma(alpha * c, s) if c > 0 else 0.0 for c, s in zip(counts, scale)])
    X = np.stack([rain, temp, mulch, copper, hedgehog, traps], axis=1).astype(np.float32)
    return X, y.astype(np.float32), mu.astype(np.float32)


X_tr, y_tr, _ = simulate(16000)
X_te, y_te, mu_te = simulate(4000)
m, s = X_tr.mean(0), X_tr.std(0)
X_tr = (X_tr - m) / s
X_te = (X_te - m) / s


class SlugNet(nn.Module):
    def __init__(self, width=48):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU())
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)   # log of the expected grams


def tweedie_deviance(log_mu, y, p=POWER):
    # unit deviance 2 * [ y^(2-p)/((1-p)(2-p)) - y mu^(1-p)/(1-p) + mu^(2-p)/(2-p) ]
    mu_1p = mx.exp((1 - p) * log_mu)
    mu_2p = mx.exp((2 - p) * log_mu)
    y_2p = mx.power(y, 2 - p)
    return 2 * (y_2p / ((1 - p) * (2 - p)) - y * mu_1p / (1 - p) + mu_2p / (2 - p))


def loss_fn(model, x, y):
    return tweedie_deviance(model(x), y).mean()


def d_squared(model, X, y):
    dev = float(tweedie_deviance(model(mx.array(X)), mx.array(y)).mean())
    null = float(tweedie_deviance(mx.log(mx.array(y_tr.mean())) * mx.ones(len(y)), mx.array(y)).mean())
    return dev, 100.0 * (1 - dev / null)


def make_optimizer():
    lr = optim.cosine_decay(3e-3, TOTAL_STEPS, end=3e-5)
    return optim.AdamW(learning_rate=lr, weight_decay=1e-4)


def row(cells):
    print(" & ".join(cells) + r" \\")


def run_session(model, opt, start, stop, rows_rng):
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    acc, n_acc = 0.0, 0
    for step in range(start + 1, stop + 1):
        idx = mx.array(rows_rng.integers(0, len(y_tr), BATCH))
        loss, grads = loss_and_grad(model, mx.array(X_tr)[idx], mx.array(y_tr)[idx])
        if step == 1:
            flat = tree_flatten(grads)
            zero = sum(1 for _, g in flat if float(mx.abs(g).max()) == 0.0)
            print(f"% step-1 gradient check: {len(flat)} leaves, {zero} all-zero")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        acc += loss.item()
        n_acc += 1
        if step % REPORT == 0:
            dev, d2 = d_squared(model, X_te, y_te)
            lr = opt.learning_rate.item()
            row([f"{step}", f"{lr:.2e}", f"{acc / n_acc:.3f}", f"{dev:.3f}", f"{d2:.1f}\\%"])
            acc, n_acc = 0.0, 0


print(r"% allotment slug damage, Tweedie p=1.5, log link")
print(f"% train {len(y_tr)} plot-weeks ({100 * (y_tr == 0).mean():.0f}% with no damage), test {len(y_te)}")
oracle = float(tweedie_deviance(mx.log(mx.array(mu_te)), mx.array(y_te)).mean())
print(f"% oracle test deviance (true mean) {oracle:.3f}")
print(r"\begin{tabular}{rrrrr}")
print(r"\hline")
row(["step", "lr", "train dev.", "test dev.", "$D^2$"])
print(r"\hline")

ckpt_dir = tempfile.mkdtemp(prefix="slugs_")
mx.random.seed(3)

# ---- session 1 ------------------------------------------------------------
model = SlugNet()
opt = make_optimizer()
mx.eval(model.parameters())
dev0, d20 = d_squared(model, X_te, y_te)
row(["0", "--", "--", f"{dev0:.3f}", f"{d20:.1f}\\%"])
run_session(model, opt, 0, SESSION_1_STEPS, np.random.default_rng(1))

model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
probe = mx.array(X_te[:512]), mx.array(y_te[:512])
probe_before = loss_fn(model, *probe).item()
with open(os.path.join(ckpt_dir, "meta.json"), "w") as f:
    json.dump({"step": SESSION_1_STEPS, "probe": probe_before}, f)
del model, opt
print(r"\hline")
print(f"% checkpoint written to {ckpt_dir}")

# ---- session 2: resume ----------------------------------------------------
with open(os.path.join(ckpt_dir, "meta.json")) as f:
    meta = json.load(f)
model = SlugNet()
model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
opt = make_optimizer()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
probe_after = loss_fn(model, *probe).item()
print(f"% resumed at step {meta['step']} (optimizer step {opt.step.item()}); probe deviance {meta['probe']:.5f} -> {probe_after:.5f}")
run_session(model, opt, meta["step"], TOTAL_STEPS, np.random.default_rng(2))
print(r"\hline")
print(r"\end{tabular}")
dev, d2 = d_squared(model, X_te, y_te)
print(f"% final: test deviance {dev:.3f} (oracle {oracle:.3f}), D^2 {d2:.1f}%")
