"""Meteorite strewn field: generative model of fragment landing spots.

Stage 1: rectified-flow / flow matching from N(0, I) to the standardised 2-D
landing positions (along-track km, cross-track km). Stage 2: reflow - pairs
(z, x_hat) are drawn from the stage-1 ODE and a copy of the stage-1 network is
trained on those straightened couplings, so that very few Euler steps suffice.
Quality is the sliced Wasserstein distance (SWD) to held-out fragments, printed
beside a pure-noise baseline and a data-vs-data floor.
"""
import math
import os
import tempfile
import time

import numpy as np

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)


def strewn_field(n):
    # heavier fragments carry further downrange; a crosswind bends the field
    mass_q = rng.beta(2.0, 3.5, size=n)
    along = 14.0 * mass_q + rng.normal(0.0, 0.6, size=n)
    cross = 0.035 * along**2 + rng.normal(0.0, 0.25 + 0.05 * along, size=n)
    return np.stack([along, cross], 1).astype(np.float32)


raw = strewn_field(7500)
mu, sd = raw[:6000].mean(0), raw[:6000].std(0)
data = (raw - mu) / sd
train, held = mx.array(data[:6000]), mx.array(data[6000:])
print(f"fragments: train {train.shape[0]}  held-out {held.shape[0]}  (km scale along {sd[0]:.2f}, cross {sd[1]:.2f})")


class VelocityNet(nn.Module):
    def __init__(self, width=64, n_freq=8):
        super().__init__()
        self.freqs = mx.array(np.exp(np.linspace(0.0, math.log(40.0), n_freq)).astype(np.float32))
        self.inp = nn.Linear(2 + 2 * n_freq, width)
        self.h1 = nn.Linear(width, width)
        self.h2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 2)

    def __call__(self, x, t):
        ang = t[:, None] * self.freqs[None, :]
        h = nn.silu(self.inp(mx.concatenate([x, mx.sin(ang), mx.cos(ang)], axis=1)))
        h = h + nn.silu(self.h1(h))
        h = h + nn.silu(self.h2(h))
        return self.out(h)

    def freeze_freqs(self):
        self.freeze(keys=["freqs"], recurse=False)


def fm_loss(model, z, x, t):
    xt = (1.0 - t[:, None]) * z + t[:, None] * x
    return mx.mean(mx.sum((model(xt, t) - (x - z)) ** 2, axis=1))


def euler(model, z, steps):
    x = z
    dt = 1.0 / steps
    for i in range(steps):
        t = mx.full((x.shape[0],), i * dt)
        x = x + dt * model(x, t)
    return x


PROJ = mx.array(np.stack([[math.cos(a), math.sin(a)] for a in np.linspace(0, math.pi, 32, endpoint=False)], 1).astype(np.float32))


def swd(a, b):
    pa = mx.sort(a @ PROJ, axis=0)
    pb = mx.sort(b @ PROJ, axis=0)
    return mx.mean(mx.abs(pa - pb)).item()


def make_schedule(total, warm, peak):
    warmup = optim.linear_schedule(0.0, peak, warm)
    decay = optim.cosine_decay(peak, total - warm, end=0.1 * peak)
    return optim.join_schedules([warmup, decay], [warm])


def train_stage(name, model, sample_batch, total, warm, peak, log_every):
    sched = make_schedule(total, warm, peak)
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, fm_loss)
    window = []
    for step in range(1, total + 1):
        z, x = sample_batch()
        t = mx.random.uniform(shape=(x.shape[0],))
        loss, grads = step_fn(model, z, x, t)
        grads, _ = optim.clip_grad_norm(grads, 5.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step == 1 or step % log_every == 0:
            lr_now = float(sched(mx.array(step - 1)))
            print(f"[{name}] step {step:5d}  lr {lr_now:.2e}  loss {np.mean(window):.4f}")
            window = []
    return opt


def report(tag, model, z_eval):
    out = []
    for n in (1, 4, 16):
        s = euler(model, z_eval, n)
        mx.eval(s)
        out.append(f"{n:>2d} steps SWD {swd(s, held):.4f}")
    print(f"{tag}: " + " | ".join(out))


n_held = held.shape[0]
z_eval = mx.random.normal((n_held, 2))
noise_swd = swd(mx.random.normal((n_held, 2)), held)
idx = mx.array(rng.choice(6000, n_held, replace=False))
floor_swd = swd(train[idx], held)
print(f"baselines: pure-noise SWD {noise_swd:.4f}   data-vs-data floor SWD {floor_swd:.4f}")

t0 = time.time()
B = 256


def stage1_batch():
    i = mx.random.randint(0, train.shape[0], (B,))
    return mx.random.normal((B, 2)), train[i]


base = VelocityNet()
base.freeze_freqs()
n_params = sum(v.size for _, v in tree_flatten(base.trainable_parameters()))
print(f"velocity net trainable params: {n_params}")
train_stage("flow", base, stage1_batch, total=500, warm=60, peak=3e-3, log_every=50)
report("stage 1", base, z_eval)

ckpt_dir = tempfile.mkdtemp()
ckpt = os.path.join(ckpt_dir, "flow_stage1.safetensors")
base.save_weights(ckpt)
print(f"checkpoint written ({os.path.getsize(ckpt) / 1024:.1f} KiB)")

# reflow couplings from the stage-1 ODE (no loss lines while these are drawn)
print("drawing reflow couplings from the stage-1 ODE ...")
zs, xs = [], []
for _ in range(4):
    z = mx.random.normal((1024, 2))
    x_hat = euler(base, z, 24)
    mx.eval(x_hat)
    zs.append(z)
    xs.append(x_hat)
pair_z, pair_x = mx.concatenate(zs), mx.concatenate(xs)
print(f"couplings ready: {pair_z.shape[0]} pairs, sample SWD {swd(pair_x[:n_held], held):.4f}")

reflow = VelocityNet()
reflow.freeze_freqs()
reflow.load_weights(ckpt)
mx.eval(reflow.parameters())
same = all(mx.array_equal(a, b).item() for (_, a), (_, b) in zip(tree_flatten(base.parameters()), tree_flatten(reflow.parameters())))
print(f"reflow net initialised from checkpoint: identical weights = {same}")


def stage2_batch():
    i = mx.random.randint(0, pair_z.shape[0], (B,))
    return pair_z[i], pair_x[i]


train_stage("reflow", reflow, stage2_batch, total=300, warm=40, peak=1e-3, log_every=50)
report("reflow ", reflow, z_eval)
print(f"done in {time.time() - t0:.1f}s")
