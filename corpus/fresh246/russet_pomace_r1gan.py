"""Cider-apple juice sampler: a small GAN over (Brix, malic acid g/L) of pressed juice.

Three cultivar groups in the press log (bittersweet, sharp, sweet).  Discriminator uses a
lazy R1 penalty on real juice readings; generator weights are tracked with an EMA copy.
The run is interrupted half way, written to disk and resumed from the files.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

SEED = 11
Z = 4
BATCH = 256
STEPS = 1000
RESUME_AT = 500
R1_EVERY = 4
R1_GAMMA = 1.0
EMA_DECAY = 0.99

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ---------------------------------------------------------------- press log
GROUPS = {
    "bittersweet": (0.45, [13.6, 2.1], [[0.55, -0.10], [-0.10, 0.20]]),
    "sharp": (0.30, [11.2, 8.4], [[0.45, 0.25], [0.25, 0.90]]),
    "sweet": (0.25, [12.1, 3.6], [[0.35, 0.05], [0.05, 0.25]]),
}


def press_log(n):
    names = list(GROUPS)
    w = np.array([GROUPS[k][0] for k in names])
    idx = rng.choice(len(names), size=n, p=w)
    out = np.zeros((n, 2), dtype=np.float64)
    for j, k in enumerate(names):
        m = idx == j
        out[m] = rng.multivariate_normal(GROUPS[k][1], GROUPS[k][2], size=int(m.sum()))
    return out


train_raw = press_log(12000)
held_raw = press_log(2000)
mu, sd = train_raw.mean(0), train_raw.std(0)
train = mx.array(((train_raw - mu) / sd).astype(np.float32))
held = mx.array(((held_raw - mu) / sd).astype(np.float32))
centres = mx.array(((np.array([GROUPS[k][1] for k in GROUPS]) - mu) / sd).astype(np.float32))
true_frac = np.array([GROUPS[k][0] for k in GROUPS])
print(f"press log: {train.shape[0]} train / {held.shape[0]} held-out juices, "
      f"Brix {mu[0]:.2f}+-{sd[0]:.2f}, malic {mu[1]:.2f}+-{sd[1]:.2f} g/L")


# ---------------------------------------------------------------- networks
class Sampler(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(Z, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 2)

    def __call__(self, z):
        h = nn.silu(self.l1(z))
        h = nn.silu(self.l2(h))
        return self.out(h)


class Taster(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.leaky_relu(self.l1(x), 0.2)
        h = nn.leaky_relu(self.l2(h), 0.2)
        return self.out(h).squeeze(-1)


def build():
    g, d = Sampler(), Taster()
    mx.eval(g.parameters(), d.parameters())
    opt_g = optim.Adam(learning_rate=1e-4, betas=[0.0, 0.99])
    opt_d = optim.Adam(learning_rate=4e-4, betas=[0.0, 0.99])
    return g, d, opt_g, opt_d


# ---------------------------------------------------------------- losses
def d_loss(d, g_out, real):
    fake = mx.stop_gradient(g_out)
    return mx.mean(nn.softplus(d(fake))) + mx.mean(nn.softplus(-d(real)))


def d_loss_r1(d, g_out, real):
    base = d_loss(d, g_out, real)
    grad_x = mx.grad(lambda x: mx.sum(d(x)))(real)
    r1 = mx.mean(mx.sum(grad_x * grad_x, axis=-1))
    return base + (R1_GAMMA / 2.0) * R1_EVERY * r1, r1


def g_loss(g, d, z):
    return mx.mean(nn.softplus(-d(g(z))))


# ---------------------------------------------------------------- metrics
PROJ = mx.array(rng.normal(size=(2, 64)).astype(np.float32))
PROJ = PROJ / mx.sqrt(mx.sum(PROJ * PROJ, axis=0, keepdims=True))


def swd(a, b):
    pa = mx.sort(a @ PROJ, axis=0)
    pb = mx.sort(b @ PROJ, axis=0)
    return mx.mean(mx.abs(pa - pb)).item()


def coverage(x):
    dist = mx.sum((x[:, None, :] - centres[None, :, :]) ** 2, axis=-1)
    lab = np.array(mx.argmin(dist, axis=1))
    return np.bincount(lab, minlength=3) / len(lab)


n_held = held.shape[0]
noise_base = swd(mx.random.normal((n_held, 2)), held)
cov = np.cov(np.array(train), rowvar=False)
gauss_fit = mx.array(rng.multivariate_normal(np.array(train).mean(0), cov, size=n_held).astype(np.float32))
gauss_base = swd(gauss_fit, held)
print(f"baselines on held-out: N(0,I) SWD {noise_base:.4f} | single-Gaussian fit SWD {gauss_base:.4f}")

z_eval = mx.random.normal((n_held, Z))


# ---------------------------------------------------------------- training
def save_ckpt(path, g, d, ema, opt_g, opt_d, step):
    mx.save_safetensors(os.path.join(path, "sampler.safetensors"), dict(tree_flatten(g.parameters())))
    mx.save_safetensors(os.path.join(path, "taster.safetensors"), dict(tree_flatten(d.parameters())))
    mx.save_safetensors(os.path.join(path, "ema.safetensors"), dict(tree_flatten(ema)))
    mx.save_safetensors(os.path.join(path, "opt_g.safetensors"), dict(tree_flatten(opt_g.state)))
    mx.save_safetensors(os.path.join(path, "opt_d.safetensors"), dict(tree_flatten(opt_d.state)))
    with open(os.path.join(path, "step.txt"), "w") as f:
        f.write(str(step))


def load_ckpt(path):
    g, d, opt_g, opt_d = build()
    g.load_weights(os.path.join(path, "sampler.safetensors"))
    d.load_weights(os.path.join(path, "taster.safetensors"))
    ema = tree_unflatten(list(mx.load(os.path.join(path, "ema.safetensors")).items()))
    opt_g.state = tree_unflatten(list(mx.load(os.path.join(path, "opt_g.safetensors")).items()))
    opt_d.state = tree_unflatten(list(mx.load(os.path.join(path, "opt_d.safetensors")).items()))
    with open(os.path.join(path, "step.txt")) as f:
        step = int(f.read())
    return g, d, ema, opt_g, opt_d, step


g, d, opt_g, opt_d = build()
ema = tree_map(lambda p: mx.array(p), g.parameters())
d_grad = nn.value_and_grad(d, d_loss)
d_grad_r1 = nn.value_and_grad(d, d_loss_r1)
g_grad = nn.value_and_grad(g, g_loss)
ema_g = Sampler()

t0 = time.time()
ckpt_dir = tempfile.mkdtemp()
step = 0
last_r1 = float("nan")
while step < STEPS:
    step += 1
    real = train[mx.random.randint(0, train.shape[0], (BATCH,))]
    z = mx.random.normal((BATCH, Z))
    fake = g(z)
    if step % R1_EVERY == 0:
        (ld, r1), gd = d_grad_r1(d, fake, real)
        last_r1 = r1.item()
    else:
        ld, gd = d_grad(d, fake, real)
    opt_d.update(d, gd)

    z = mx.random.normal((BATCH, Z))
    lg, gg = g_grad(g, d, z)
    opt_g.update(g, gg)
    ema = tree_map(lambda e, p: EMA_DECAY * e + (1 - EMA_DECAY) * p, ema, g.parameters())
    mx.eval(d.parameters(), g.parameters(), opt_d.state, opt_g.state, ema)

    if step % 125 == 0 or step == 1:
        ema_g.update(ema)
        raw_swd = swd(g(z_eval), held)
        ema_swd = swd(ema_g(z_eval), held)
        print(f"step {step:5d} | D {ld.item():.4f} | G {lg.item():.4f} | R1 {last_r1:.4f} | "
              f"SWD raw {raw_swd:.4f} ema {ema_swd:.4f} | {time.time() - t0:5.1f}s")

    if step == RESUME_AT:
        save_ckpt(ckpt_dir, g, d, ema, opt_g, opt_d, step)
        print(f"checkpoint written at step {step} -> {ckpt_dir}")
        del g, d, opt_g, opt_d, ema
        g, d, ema, opt_g, opt_d, step = load_ckpt(ckpt_dir)
        d_grad = nn.value_and_grad(d, d_loss)
        d_grad_r1 = nn.value_and_grad(d, d_loss_r1)
        g_grad = nn.value_and_grad(g, g_loss)
        print(f"resumed from checkpoint at step {step}")

ema_g.update(ema)
samples = ema_g(z_eval)
final_swd = swd(samples, held)
cov_gen = coverage(samples)
cov_held = coverage(held)
print("---")
print(f"final EMA sampler SWD {final_swd:.4f} vs single-Gaussian {gauss_base:.4f} vs N(0,I) {noise_base:.4f}")
for k, a, b, c in zip(GROUPS, true_frac, cov_held, cov_gen):
    print(f"  {k:12s} share: press-law {a:.2f} held-out {b:.2f} sampled {c:.2f}")
gen_raw = np.array(samples) * sd + mu
print(f"sampled Brix {gen_raw[:, 0].mean():.2f}+-{gen_raw[:, 0].std():.2f} (log {held_raw[:, 0].mean():.2f}+-{held_raw[:, 0].std():.2f}), "
      f"malic {gen_raw[:, 1].mean():.2f}+-{gen_raw[:, 1].std():.2f} (log {held_raw[:, 1].mean():.2f}+-{held_raw[:, 1].std():.2f})")
print(f"done in {time.time() - t0:.1f}s")
