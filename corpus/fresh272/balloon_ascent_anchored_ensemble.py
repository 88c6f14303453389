"""Hot-air balloon ascent rate (m/s) from burner and envelope readings.

Five-member anchored ensemble trained jointly: every member is pulled toward
its own random draw from the prior, so members agree where data exists and
spread apart away from it. Total loss = data MSE + anchor term.
"""
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)

M = 5            # ensemble members
H = 48           # hidden width
NOISE_SD = 0.15  # irreducible sensor scatter (m/s)


def ascent_law(burn, ambient, load):
    # made-up law: burner seconds per minute, ambient temperature (scaled), payload (scaled)
    return 1.6 * np.tanh(1.3 * burn) - 0.6 * ambient - 0.45 * load + 0.25 * burn * load


def make(n, lo, hi):
    burn = rng.uniform(lo, hi, n)
    ambient = rng.uniform(-1, 1, n)
    load = rng.uniform(-1, 1, n)
    x = np.stack([burn, ambient, load], 1).astype(np.float32)
    y = (ascent_law(burn, ambient, load) + NOISE_SD * rng.standard_normal(n)).astype(np.float32)
    return mx.array(x), mx.array(y)


Xtr, Ytr = make(1600, -1.0, 1.0)
Xte, Yte = make(400, -1.0, 1.0)
Xood, Yood = make(400, 2.0, 3.0)   # burner far outside anything logged
N = Xtr.shape[0]


class StackedMLP(nn.Module):
    """M independent 3-H-H-1 tanh MLPs evaluated with one batched matmul."""

    def __init__(self, m, d_in, h, prior_sd):
        super().__init__()
        self.prior_sd = prior_sd
        s1, s2, s3 = prior_sd / math.sqrt(d_in), prior_sd / math.sqrt(h), prior_sd / math.sqrt(h)
        self.w1 = s1 * mx.random.normal((m, d_in, h))
        self.b1 = 0.5 * mx.random.normal((m, 1, h))
        self.w2 = s2 * mx.random.normal((m, h, h))
        self.b2 = 0.5 * mx.random.normal((m, 1, h))
        self.w3 = s3 * mx.random.normal((m, h, 1))
        self.b3 = mx.zeros((m, 1, 1))

    def __call__(self, x):
        z = mx.tanh(mx.matmul(x[None], self.w1) + self.b1)
        z = mx.tanh(mx.matmul(z, self.w2) + self.b2)
        return (mx.matmul(z, self.w3) + self.b3)[..., 0]   # (M, B)


model = StackedMLP(M, 3, H, prior_sd=1.0)
mx.eval(model.parameters())

# anchors: an independent prior draw per member (here the initial values themselves)
anchors = {k: mx.array(v) for k, v in tree_flatten(model.parameters())}
anchor_scale = {k: 1.0 / (float(mx.var(v).item()) + 1e-3) for k, v in anchors.items()}
LAMBDA = NOISE_SD ** 2


def losses(model, xb, yb):
    pred = model(xb)
    mse = mx.mean(mx.square(pred - yb[None]), axis=1)              # per member
    anchor = mx.zeros((M,))
    for k, v in tree_flatten(model.parameters()):
        d = mx.square(v - anchors[k]).reshape(M, -1).sum(axis=1)
        anchor = anchor + anchor_scale[k] * d
    anchor = LAMBDA * anchor / N
    return mse, anchor


def total_loss(model, xb, yb):
    mse, anchor = losses(model, xb, yb)
    return mx.sum(mse + anchor), (mse, anchor)


loss_and_grad = nn.value_and_grad(model, total_loss)

STEPS = 1200
WARM = 60
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, STEPS - WARM, 1e-4)], [WARM]
)
opt = optim.Adam(learning_rate=lr_sched)

BATCH = 128


def spread_and_rmse(x, y):
    p = model(x)
    mu = p.mean(axis=0)
    sd = mx.sqrt(p.var(axis=0) + NOISE_SD ** 2)
    rmse = mx.sqrt(mx.mean(mx.square(mu - y)))
    cover = mx.mean((mx.abs(mu - y) <= 2 * sd).astype(mx.float32))
    return rmse.item(), mx.sqrt(p.var(axis=0)).mean().item(), cover.item()


baseline_rmse = float(mx.sqrt(mx.mean(mx.square(Yte - Ytr.mean()))).item())
print(f"ensemble M={M} width={H} train={N} lambda={LAMBDA:.4f} steps={STEPS} warmup={WARM} (lr starts at 0)")
print(f"baseline (predict train mean) test RMSE = {baseline_rmse:.3f} m/s, noise floor = {NOISE_SD:.3f}")

t0 = time.time()
step = 0
while step < STEPS:
    perm = mx.array(rng.permutation(N))
    for i in range(0, N - BATCH + 1, BATCH):
        idx = perm[i:i + BATCH]
        (tot, (mse, anc)), g = loss_and_grad(model, Xtr[idx], Ytr[idx])
        lr_now = opt.learning_rate.item() if isinstance(opt.learning_rate, mx.array) else float(opt.learning_rate)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, tot)
        if step % 100 == 0 or step == STEPS - 1:
            print(f"step {step:5d} lr {lr_now:.2e} total {tot.item():.4f} "
                  f"mse(mean of members) {mse.mean().item():.4f} anchor(mean) {anc.mean().item():.4f} "
                  f"member mse min/max {mse.min().item():.3f}/{mse.max().item():.3f}")
        step += 1
        if step >= STEPS:
            break

rm_in, sp_in, cov_in = spread_and_rmse(Xte, Yte)
rm_ood, sp_ood, cov_ood = spread_and_rmse(Xood, Yood)
print(f"test  (in range)   RMSE {rm_in:.3f}  member spread {sp_in:.3f}  2-sd coverage {cov_in:.3f}")
print(f"probe (burn 2..3)  RMSE {rm_ood:.3f}  member spread {sp_ood:.3f}  2-sd coverage {cov_ood:.3f}")
print(f"spread ratio probe/in-range = {sp_ood / sp_in:.1f}x; test RMSE vs baseline {rm_in:.3f} vs {baseline_rmse:.3f}")
print(f"done in {time.time() - t0:.1f}s")
