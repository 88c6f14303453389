"""Heather-moor hive scales: a BiGAN (encoder + generator against a joint critic
on (reading, code) pairs) over daily (weight gain kg, brood temp C) readings,
with PacGAN packing of two pairs per critic input. Trained in two sessions:
the first writes a checkpoint, the second rebuilds everything and resumes.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 5
BATCH = 128          # pairs per batch (packed two at a time -> 64 critic inputs)
PACK = 2
Z_DIM = 2
SESSION_1 = 500
SESSION_2 = 700
WARM = 150           # generator/encoder lr rises linearly from 0 over WARM steps

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def hive_days(n, rng):
    kind = rng.choice(4, size=n, p=[0.35, 0.30, 0.20, 0.15])
    gain = np.empty(n)
    temp = np.empty(n)
    for k, (g, t, sg, st, rho) in enumerate(
        [(1.8, 34.8, 0.35, 0.25, 0.5),    # heather flow, warm brood nest
         (0.2, 34.2, 0.25, 0.35, 0.2),    # idle day
         (-0.4, 33.0, 0.2, 0.6, -0.3),    # rain, colony eating stores
         (0.9, 35.4, 0.5, 0.2, 0.0)]      # swarm preparation
    ):
        m = kind == k
        a = rng.normal(size=m.sum())
        b = rho * a + np.sqrt(1 - rho ** 2) * rng.normal(size=m.sum())
        gain[m] = g + sg * a
        temp[m] = t + st * b
    return np.stack([gain, temp], 1)


raw = hive_days(16000, rng)
mu, sd = raw.mean(0), raw.std(0)
data = ((raw - mu) / sd).astype(np.float32)
held = ((hive_days(3000, np.random.default_rng(SEED + 7)) - mu) / sd).astype(np.float32)


def mlp(din, dout, h=48):
    return nn.Sequential(nn.Linear(din, h), nn.LeakyReLU(0.2), nn.Linear(h, h), nn.LeakyReLU(0.2), nn.Linear(h, dout))


class Pair(nn.Module):
    """Generator z->x and encoder x->z trained together by one optimizer."""

    def __init__(self):
        super().__init__()
        self.gen = mlp(Z_DIM, 2)
        self.enc = mlp(2, Z_DIM)


class JointCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = mlp(PACK * (2 + Z_DIM), 1, h=64)

    def __call__(self, x, z):
        xz = mx.concatenate([x, z], axis=1)
        return self.net(xz.reshape(-1, PACK * (2 + Z_DIM)))


def build():
    pair, critic = Pair(), JointCritic()
    mx.eval(pair.parameters(), critic.parameters())
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 8e-4, WARM), optim.cosine_decay(8e-4, SESSION_1 + SESSION_2 - WARM, 1e-4)],
        [WARM],
    )
    opt_p = optim.Adam(learning_rate=sched, betas=[0.5, 0.99])
    opt_c = optim.Adam(learning_rate=8e-4, betas=[0.5, 0.99])
    return pair, critic, opt_p, opt_c


def critic_loss(critic, x, z_enc, x_gen, z):
    a = critic(x, z_enc)          # real reading with its code
    b = critic(x_gen, z)          # generated reading with its prior code
    return mx.mean(nn.losses.binary_cross_entropy(a, mx.ones_like(a))) + mx.mean(
        nn.losses.binary_cross_entropy(b, mx.zeros_like(b))
    )


def pair_loss(pair, critic, x, z):
    a = critic(x, pair.enc(x))
    b = critic(pair.gen(z), z)
    # players swap the labels (non-saturating form)
    return mx.mean(nn.losses.binary_cross_entropy(a, mx.zeros_like(a))) + mx.mean(
        nn.losses.binary_cross_entropy(b, mx.ones_like(b))
    )


def energy_distance(a, b, n=1000, seed=0):
    r = np.random.default_rng(seed)
    a = a[r.choice(len(a), n, replace=False)]
    b = b[r.choice(len(b), n, replace=False)]

    def md(u, v):
        return np.sqrt(((u[:, None] - v[None]) ** 2).sum(-1)).mean()

    return float(2 * md(a, b) - md(a, a) - md(b, b))


def table_row(cols):
    print("| " + " | ".join(cols) + " |")


def run(pair, critic, opt_p, opt_c, start, stop, hist):
    c_vg = nn.value_and_grad(critic, critic_loss)
    p_vg = nn.value_and_grad(pair, pair_loss)
    t0 = time.time()
    for step in range(start, stop):
        x = mx.array(data[rng.integers(0, len(data), BATCH)])
        z = mx.random.normal((BATCH, Z_DIM))
        z_enc = mx.stop_gradient(pair.enc(x))
        x_gen = mx.stop_gradient(pair.gen(z))
        lc, gc = c_vg(critic, x, z_enc, x_gen, z)
        opt_c.update(critic, gc)
        mx.eval(critic.parameters(), opt_c.state, lc)
        lp, gp = p_vg(pair, critic, x, z)
        lr_now = opt_p.learning_rate.item()
        opt_p.update(pair, gp)
        mx.eval(pair.parameters(), opt_p.state, lp)
        hist.append((lc.item(), lp.item()))
        if step % 100 == 0 or step == stop - 1:
            xs = mx.array(held)
            recon = np.array(pair.gen(pair.enc(xs)))
            rec_err = float(np.sqrt(((recon - held) ** 2).sum(1)).mean())
            samp = np.array(pair.gen(mx.random.normal((3000, Z_DIM))))
            ed = energy_distance(samp, held)
            w = hist[-50:]
            table_row([
                f"{step:5d}", f"{lr_now:.2e}",
                f"{np.mean([h[0] for h in w]):.3f}", f"{np.mean([h[1] for h in w]):.3f}",
                f"{ed:.4f}", f"{rec_err:.3f}", f"{time.time() - t0:5.1f}",
            ])


def save_ckpt(folder, pair, critic, opt_p, opt_c, step):
    pair.save_weights(os.path.join(folder, "pair.safetensors"))
    critic.save_weights(os.path.join(folder, "critic.safetensors"))
    mx.save_safetensors(os.path.join(folder, "opt_p.safetensors"), dict(tree_flatten(opt_p.state)))
    mx.save_safetensors(os.path.join(folder, "opt_c.safetensors"), dict(tree_flatten(opt_c.state)))
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump({"step": step}, f)


def load_ckpt(folder):
    pair, critic, opt_p, opt_c = build()
    pair.load_weights(os.path.join(folder, "pair.safetensors"))
    critic.load_weights(os.path.join(folder, "critic.safetensors"))
    opt_p.state = tree_unflatten(list(mx.load(os.path.join(folder, "opt_p.safetensors")).items()))
    opt_c.state = tree_unflatten(list(mx.load(os.path.join(folder, "opt_c.safetensors")).items()))
    with open(os.path.join(folder, "meta.json")) as f:
        step = json.load(f)["step"]
    mx.eval(pair.parameters(), critic.parameters(), opt_p.state, opt_c.state)
    return pair, critic, opt_p, opt_c, step


mean_only = float(np.sqrt((held ** 2).sum(1)).mean())
floor = energy_distance(data[:3000], held)
print(f"hive scales: {len(data)} days, held-out {len(held)}")
print(f"reference: energy distance real/real {floor:.4f}; recon error of the mean reading {mean_only:.3f}")
print()
table_row(["step", "lr_pair", "critic", "pair", "energy_d", "recon", "secs"])
table_row(["---"] * 7)

hist = []
pair, critic, opt_p, opt_c = build()
run(pair, critic, opt_p, opt_c, 0, SESSION_1, hist)
folder = tempfile.mkdtemp()
save_ckpt(folder, pair, critic, opt_p, opt_c, SESSION_1)
probe = mx.random.normal((8, Z_DIM))
before = np.array(pair.gen(probe))
del pair, critic, opt_p, opt_c

pair, critic, opt_p, opt_c, start = load_ckpt(folder)
after = np.array(pair.gen(probe))
print()
print(f"checkpoint: {folder} resumed at step {start} (optimizer step {int(opt_p.state['step'])}), "
      f"max |gen diff| {np.abs(after - before).max():.1e}")
print()
table_row(["step", "lr_pair", "critic", "pair", "energy_d", "recon", "secs"])
table_row(["---"] * 7)
run(pair, critic, opt_p, opt_c, start, SESSION_1 + SESSION_2, hist)

samp = np.array(pair.gen(mx.random.normal((4000, Z_DIM)))) * sd + mu
print()
print(f"sampled gain kg mean {samp[:, 0].mean():.2f} sd {samp[:, 0].std():.2f} | "
      f"data {raw[:, 0].mean():.2f} sd {raw[:, 0].std():.2f}")
print(f"sampled brood C mean {samp[:, 1].mean():.2f} sd {samp[:, 1].std():.2f} | "
      f"data {raw[:, 1].mean():.2f} sd {raw[:, 1].std():.2f}")
print(f"share of days losing weight: sampled {100 * np.mean(samp[:, 0] < 0):.1f}% | data {100 * np.mean(raw[:, 0] < 0):.1f}%")
