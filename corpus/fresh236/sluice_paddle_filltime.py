"""Canal lock keeper's log: predict chamber fill time (minutes) with an
uncertainty band, from 8 readings taken when the ground paddles are drawn.

Stage "home": train a LayerNorm MLP with a Gaussian negative log-likelihood
(mean + log-variance heads) on locks of the home flight.
Stage "branch": a branch-canal flight with bigger chambers and slower culverts;
keep the trunk frozen and re-tune only the LayerNorm gains/biases and the two
heads on a small log from the branch.
"""

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

FEATURES = ["head_m", "chamber_m2", "paddles", "draw_speed", "culvert_rough",
            "upstream_flow", "wind", "water_temp"]


def lock_log(n, rng, chamber_scale=1.0, culvert_slow=1.0):
    head = rng.uniform(1.0, 4.5, n)
    chamber = rng.uniform(80, 220, n) * chamber_scale
    paddles = rng.integers(1, 5, n).astype(np.float64)
    draw = rng.uniform(0.3, 1.0, n)
    rough = rng.uniform(0.01, 0.04, n)
    flow = rng.uniform(0.0, 3.0, n)
    wind = rng.normal(0, 1, n)
    temp = rng.uniform(2, 22, n)
    # orifice-style filling: volume / (paddle area * sqrt(2 g head)), slowed by roughness
    area = paddles * 0.6 * draw
    minutes = (chamber * head) / (area * np.sqrt(19.6 * head) * 60.0)
    minutes = minutes * (1.0 + 12.0 * rough * culvert_slow) / (1.0 + 0.04 * flow)
    minutes = minutes + 0.4 / draw  # time spent winding the paddles up
    spread = 0.05 + 0.06 * head  # deeper locks are noisier (surge, leaky gates)
    minutes = minutes * np.exp(spread * rng.standard_normal(n))
    x = np.stack([head, chamber, paddles, draw, rough, flow, wind, temp], 1)
    return x.astype(np.float32), np.log(minutes).astype(np.float32)[:, None]


class FillTime(nn.Module):
    def __init__(self, d_in=8, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.n1 = nn.LayerNorm(width)
        self.l2 = nn.Linear(width, width)
        self.n2 = nn.LayerNorm(width)
        self.mean_head = nn.Linear(width, 1)
        self.logvar_head = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.gelu(self.n1(self.l1(x)))
        h = h + nn.gelu(self.n2(self.l2(h)))
        return self.mean_head(h), self.logvar_head(h)


def gaussian_nll(model, x, y):
    mu, logvar = model(x)
    return mx.mean(0.5 * (logvar + (y - mu) ** 2 * mx.exp(-logvar) + np.log(2 * np.pi)))


def report(model, x, y, label):
    mu, logvar = model(x)
    nll = gaussian_nll(model, x, y).item()
    minutes_pred = mx.exp(mu)
    minutes_true = mx.exp(y)
    mae = mx.mean(mx.abs(minutes_pred - minutes_true)).item()
    sd = mx.exp(0.5 * logvar)
    inside = mx.mean((mx.abs(y - mu) <= 1.645 * sd).astype(mx.float32)).item()
    base = mx.mean(mx.abs(mx.exp(mx.mean(y)) - minutes_true)).item()
    return (f"{label:<7} nll {nll:+.3f}  mae {mae:5.2f} min  (site-mean guess {base:5.2f} min)"
            f"  90%-band cover {100 * inside:5.1f}%")


rng = np.random.default_rng(5)
mx.random.seed(5)

home_x, home_y = lock_log(4000, rng)
home_vx, home_vy = lock_log(800, rng)
branch_x, branch_y = lock_log(300, rng, chamber_scale=1.8, culvert_slow=2.5)
branch_vx, branch_vy = lock_log(600, rng, chamber_scale=1.8, culvert_slow=2.5)

mu_x, sd_x = home_x.mean(0), home_x.std(0) + 1e-6
norm = lambda a: mx.array((a - mu_x) / sd_x)
home_x, home_vx, branch_x, branch_vx = map(norm, [home_x, home_vx, branch_x, branch_vx])
home_y, home_vy, branch_y, branch_vy = map(mx.array, [home_y, home_vy, branch_y, branch_vy])

model = FillTime()
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"lock log: {len(FEATURES)} readings, target log(minutes); model {n_all} parameters")
print("loss is a Gaussian NLL in log-minutes, so it goes below zero once the band is tight")

# ---- stage home ----
opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 900, end=1e-4))
step_fn = nn.value_and_grad(model, gaussian_nll)
print(report(model, home_vx, home_vy, "home"))
t0 = time.time()
for step in range(1, 901):
    idx = mx.array(rng.integers(0, home_x.shape[0], 128))
    loss, grads = step_fn(model, home_x[idx], home_y[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if step % 300 == 0:
        print(f"[home   {step:4d}] batch nll {loss.item():+.3f}  {time.time() - t0:4.1f}s")
        print("   " + report(model, home_vx, home_vy, "home"))

print("   " + report(model, branch_vx, branch_vy, "branch") + "   <- before re-tuning")

# ---- stage branch: only LayerNorm affine params and heads move ----
model.freeze()
for m in (model.n1, model.n2, model.mean_head, model.logvar_head):
    m.unfreeze()
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"branch stage: {n_train} of {n_all} parameters trainable")
trunk_before = mx.array(model.l2.weight)
opt = optim.Adam(learning_rate=2e-3)
step_fn = nn.value_and_grad(model, gaussian_nll)
for step in range(1, 401):
    idx = mx.array(rng.integers(0, branch_x.shape[0], 64))
    loss, grads = step_fn(model, branch_x[idx], branch_y[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if step == 1 or step % 100 == 0:
        print(f"[branch {step:4d}] batch nll {loss.item():+.3f}  {time.time() - t0:4.1f}s")
print("   " + report(model, branch_vx, branch_vy, "branch"))
print("   " + report(model, home_vx, home_vy, "home"))
moved = mx.max(mx.abs(model.l2.weight - trunk_before)).item()
print(f"trunk l2 weight max change during branch stage: {moved:.1e}")
