# Heddle/warp tension profiles on a 16-thread test loom section.
# A 2-d latent VAE with *cyclical* KL annealing (beta ramps 0 -> 1 each cycle,
# then restarts), a learning rate warming up from exactly 0, Adamax, compiled step.
# One JSON object per report line.
import json
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)
THREADS, LATENT = 16, 2
pos = mx.linspace(-1.0, 1.0, THREADS)


def make_profiles(n):
    tilt = mx.random.normal((n, 1))                 # beam tilt
    sag = mx.random.normal((n, 1))                  # centre sag
    prof = 1.2 * tilt * pos + 0.9 * sag * (pos ** 2 - 0.33)
    return prof + 0.08 * mx.random.normal((n, THREADS))


train_x, val_x = make_profiles(6000), make_profiles(1000)


class TensionVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(THREADS, 48), nn.GELU(), nn.Linear(48, 2 * LATENT))
        self.dec = nn.Sequential(nn.Linear(LATENT, 48), nn.GELU(), nn.Linear(48, THREADS))

    def __call__(self, x, eps):
        h = self.enc(x)
        mu, logvar = h[:, :LATENT], h[:, LATENT:]
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.dec(z), mu, logvar


def parts(model, x, eps):
    xhat, mu, logvar = model(x, eps)
    recon = mx.mean(mx.sum((xhat - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + logvar - mu ** 2 - mx.exp(logvar), axis=1))
    return recon, kl


def objective(model, x, eps, beta):
    recon, kl = parts(model, x, eps)
    return recon + beta * kl, (recon, kl)


model = TensionVAE()
STEPS, CYCLE = 600, 200
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, 60), optim.cosine_decay(3e-3, STEPS - 60, 3e-4)], [60])
opt = optim.Adamax(learning_rate=lr_sched)
state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, beta):
    eps = mx.random.normal((x.shape[0], LATENT))
    (loss, (recon, kl)), grads = nn.value_and_grad(model, objective)(model, x, eps, beta)
    opt.update(model, grads)
    return loss, recon, kl


# one-off gradient audit: every leaf should receive signal
_, g0 = nn.value_and_grad(model, objective)(model, train_x[:256], mx.random.normal((256, LATENT)), mx.array(0.5))
live = sum(int(mx.any(v != 0).item()) for _, v in tree_flatten(g0))
print(json.dumps({"audit": "grad_leaves_nonzero", "live": live, "total": len(tree_flatten(g0))}))

baseline = mx.mean(mx.sum((val_x - mx.mean(train_x, axis=0)) ** 2, axis=1)).item()
for it in range(STEPS):
    beta = min(1.0, (it % CYCLE) / (0.5 * CYCLE))          # ramp over half a cycle, hold, restart
    idx = mx.random.randint(0, train_x.shape[0], (128,))
    loss, recon, kl = step(train_x[idx], mx.array(beta))
    mx.eval(loss, recon, kl, model.parameters(), opt.state)
    if it % 25 == 0 or it == STEPS - 1:
        vr, vk = parts(model, val_x, mx.zeros((val_x.shape[0], LATENT)))
        print(json.dumps({
            "cycle": it // CYCLE, "it_in_cycle": it % CYCLE, "beta": round(beta, 3),
            "lr": float(f"{lr_sched(mx.array(it)).item():.2e}"),
            "elbo_obj": round(loss.item(), 4), "recon": round(recon.item(), 4), "kl_nats": round(kl.item(), 4),
            "val_recon_mu": round(vr.item(), 4), "val_kl": round(vk.item(), 4),
            "mean_profile_recon": round(baseline, 4)}))
final_r, final_k = parts(model, val_x, mx.zeros((val_x.shape[0], LATENT)))
print(json.dumps({"summary": True, "val_recon": round(final_r.item(), 4), "val_kl": round(final_k.item(), 4),
                  "baseline_recon": round(baseline, 4),
                  "recon_vs_baseline_pct": round(100 * final_r.item() / baseline, 1)}))
