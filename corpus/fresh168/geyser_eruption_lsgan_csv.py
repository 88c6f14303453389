# Geothermal field station: a least-squares GAN that learns the joint law of
# (eruption duration, wait until the next eruption) for a cone geyser, so the
# visitor-centre display can draw plausible eruption schedules.
# Output is CSV; "sw" is a sliced distance to the real sample, "long%" the
# share of long eruptions (real one printed in the ref row).
from functools import partial
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rs = np.random.default_rng(2024)


def eruptions(n):
    long_ = rs.random(n) < 0.64
    dur = np.where(long_, rs.normal(4.35, 0.38, n), rs.normal(2.05, 0.27, n))
    wait = np.where(long_, 33 + 10.5 * dur + rs.normal(0, 5.5, n), 30 + 11.0 * dur + rs.normal(0, 4.5, n))
    return np.stack([dur, wait], 1).astype(np.float32)


pool = eruptions(20000)
mu, sd = pool.mean(0), pool.std(0)
pool_s = (pool - mu) / sd
held = eruptions(2000)
held_s = mx.array((held - mu) / sd)
rng_dirs = np.random.default_rng(5).normal(size=(2, 16)).astype(np.float32)
dirs = mx.array(rng_dirs / np.linalg.norm(rng_dirs, axis=0, keepdims=True))


def sliced(a, b):
    pa = mx.sort(a @ dirs, axis=0)
    pb = mx.sort(b @ dirs, axis=0)
    return mx.mean(mx.abs(pa - pb)).item()


class Gen(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.out = nn.Linear(4, 48), nn.Linear(48, 48), nn.Linear(48, 2)

    def __call__(self, z):
        h = nn.leaky_relu(self.l1(z), 0.2)
        h = nn.leaky_relu(self.l2(h), 0.2)
        return self.out(h)


class Disc(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 48), nn.LeakyReLU(0.2), nn.Linear(48, 48),
                                 nn.LeakyReLU(0.2), nn.Linear(48, 1))

    def __call__(self, x):
        return self.net(x).squeeze(-1)


mx.random.seed(11)
G, D = Gen(), Disc()
optG = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])
optD = optim.RMSprop(learning_rate=5e-4)
mx.eval(G.parameters(), D.parameters())
B = 128


def d_loss(D, real, fake):
    return 0.5 * (mx.mean((D(real) - 1.0) ** 2) + mx.mean(D(fake) ** 2))


def g_loss(G, D, z):
    return 0.5 * mx.mean((D(G(z)) - 1.0) ** 2)


d_vg = nn.value_and_grad(D, d_loss)
g_vg = nn.value_and_grad(G, g_loss)
state = [G.state, D.state, optG.state, optD.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(real):
    z = mx.random.normal((B, 4))
    fake = mx.stop_gradient(G(z))
    ld, gd = d_vg(D, real, fake)
    optD.update(D, gd)
    z2 = mx.random.normal((B, 4))
    lg, gg = g_vg(G, D, z2)
    optG.update(G, gg)
    return ld, lg, mx.mean(D(real)), mx.mean(D(fake))


def describe(xs):
    x = np.array(xs) * sd + mu
    return x[:, 0].mean(), x[:, 1].mean(), 100.0 * np.mean(x[:, 0] > 3.1)


# quick audit that both players get gradient
_, gd0 = d_vg(D, mx.array(pool_s[:B]), G(mx.random.normal((B, 4))))
_, gg0 = g_vg(G, D, mx.random.normal((B, 4)))
from mlx.utils import tree_flatten
print("# audit grad-norms D:", " ".join(f"{k}={mx.linalg.norm(v).item():.2e}" for k, v in tree_flatten(gd0)))
print("# audit grad-norms G:", " ".join(f"{k}={mx.linalg.norm(v).item():.2e}" for k, v in tree_flatten(gg0)))

rd, rw, rl = describe(np.array(held_s))
print("step,loss_d,loss_g,d_real,d_fake,dur_min,wait_min,long%,sw")
print(f"ref,,,,,{rd:.2f},{rw:.1f},{rl:.1f},{sliced(mx.array(pool_s[:2000]), held_s):.4f}")
for step in range(1, 4001):
    real = mx.array(pool_s[rs.integers(0, len(pool_s), B)])
    ld, lg, dr, df = train_step(real)
    mx.eval(state, ld, lg, dr, df)
    if step == 1 or step % 250 == 0:
        fake = G(mx.random.normal((2000, 4)))
        gd_, gw_, gl_ = describe(fake)
        print(f"{step},{ld.item():.4f},{lg.item():.4f},{dr.item():.3f},{df.item():.3f},"
              f"{gd_:.2f},{gw_:.1f},{gl_:.1f},{sliced(fake, held_s):.4f}")
