# Watchmaker's bench: a small GAN that learns to produce realistic 6-position
# timing-machine readings (rate deviation in s/day for dial up, dial down,
# crown up/down/left/right) of hand-regulated mechanical movements.
# Written for data parallel runs (mx.distributed all_sum of gradients); here it
# runs as a single process.
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

world = mx.distributed.init()
rank, size = world.rank(), world.size()

rs = np.random.default_rng(5 + rank)
POS = ["DU", "DD", "CU", "CD", "CL", "CR"]


def bench_readings(n):
    # shared regulation offset + poise error (vertical positions) + amplitude droop
    reg = rs.normal(2.0, 3.0, (n, 1))
    poise = rs.normal(0.0, 2.5, (n, 1))
    droop = np.abs(rs.normal(0.0, 2.0, (n, 1)))
    flat = np.concatenate([reg + 0.5, reg + 1.0], axis=1)
    vert = reg - droop + poise * np.array([[1.0, -1.0, 0.4, -0.4]])
    x = np.concatenate([flat, vert], axis=1) + rs.normal(0.0, 0.6, (n, 6))
    return x.astype(np.float32)


real_all = bench_readings(12000)
SCALE = 4.0
real_n = mx.array(real_all / SCALE)
hold = bench_readings(3000)
hold_mean, hold_cov = hold.mean(0), np.cov(hold.T)


class Gen(nn.Module):
    def __init__(self, z=4):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64),
                                 nn.LeakyReLU(0.2), nn.Linear(64, 6))

    def __call__(self, z):
        return self.net(z)


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64),
                                 nn.LeakyReLU(0.2), nn.Linear(64, 1))

    def __call__(self, x):
        return self.net(x).squeeze(-1)


mx.random.seed(5)
G, D = Gen(), Critic()
EPOCHS, STEPS = 6, 250
optG = optim.Adam(learning_rate=optim.cosine_decay(1e-3, EPOCHS * STEPS, 5e-5), betas=[0.5, 0.9])
optD = optim.Adam(learning_rate=optim.cosine_decay(1e-3, EPOCHS * STEPS, 5e-5), betas=[0.5, 0.9])
B = 128


def d_loss(d, real, fake):
    lr_, lf_ = d(real), d(fake)
    return (nn.losses.binary_cross_entropy(lr_, mx.ones_like(lr_) * 0.9, with_logits=True)
            + nn.losses.binary_cross_entropy(lf_, mx.zeros_like(lf_), with_logits=True))


def g_loss(g, z):
    lf_ = D(g(z))
    return nn.losses.binary_cross_entropy(lf_, mx.ones_like(lf_), with_logits=True)


def allreduce(grads):
    if size == 1:
        return grads
    return tree_map(lambda g: mx.distributed.all_sum(g) / size, grads)


def sample_stats(n=3000):
    x = np.array(G(mx.random.normal((n, 4)))) * SCALE
    mean_err = np.abs(x.mean(0) - hold_mean).mean()
    cov_err = np.linalg.norm(np.cov(x.T) - hold_cov) / np.linalg.norm(hold_cov)
    return mean_err, cov_err, x


dgrad = nn.value_and_grad(D, d_loss)
ggrad = nn.value_and_grad(G, g_loss)

m0, c0, _ = sample_stats()
print(f"[rank {rank}/{size}] untrained generator: mean err {m0:.2f} s/d, cov rel err {c0:.3f}")
_, gd0 = dgrad(D, real_n[:B], G(mx.random.normal((B, 4))))
_, gg0 = ggrad(G, mx.random.normal((B, 4)))
zero = [k for k, v in tree_flatten(gd0) + tree_flatten(gg0) if mx.abs(v).max().item() == 0]
print(f"[rank {rank}] grad check: {len(tree_flatten(gd0)) + len(tree_flatten(gg0))} tensors, all-zero: {zero}")
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    dl_sum = gl_sum = 0.0
    for it in range(1, STEPS + 1):
        idx = mx.array(rs.integers(0, real_n.shape[0], B))
        fake = mx.stop_gradient(G(mx.random.normal((B, 4))))
        ld, gd = dgrad(D, real_n[idx], fake)
        optD.update(D, allreduce(gd))
        lg, gg = ggrad(G, mx.random.normal((B, 4)))
        optG.update(G, allreduce(gg))
        mx.eval(D.parameters(), G.parameters(), optD.state, optG.state, ld, lg)
        dl_sum += ld.item()
        gl_sum += lg.item()
        if it % 50 == 0:
            frac = it / STEPS
            bar = "#" * int(20 * frac) + " " * (20 - int(20 * frac))
            el = time.time() - t0
            sys.stdout.write(f"ep {ep}/{EPOCHS} |{bar}| {it}/{STEPS} [{el:5.1f}s, "
                             f"d={dl_sum / it:.3f}, g={gl_sum / it:.3f}]\n")
    me, ce, x = sample_stats()
    print(f"  -> ep {ep}: mean err {me:.2f} s/d (was {m0:.2f}), cov rel err {ce:.3f} (was {c0:.3f})")

_, _, x = sample_stats(6000)
print("position   real mean  fake mean   real sd  fake sd")
for j, p in enumerate(POS):
    print(f"{p:>8}   {hold_mean[j]:9.2f}  {x[:, j].mean():9.2f}   {np.sqrt(hold_cov[j, j]):7.2f}  {x[:, j].std():7.2f}")
print(f"done in {time.time() - t0:.1f}s")
