"""Disdrometer data: learn a generator for raindrop diameters (mm) with a WGAN
(weight-clipped critic, RMSprop, 5 critic steps per generator step).
Real drops follow a gamma drop-size distribution mixed over light/heavy rain."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(11)
def real_drops(n):
    heavy = rng.random(n) < 0.3
    d = np.where(heavy, rng.gamma(4.0, 0.55, n), rng.gamma(3.0, 0.28, n))
    return d.astype(np.float32)[:, None]

class Generator(nn.Module):
    def __init__(self, z=4, h=32):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 1))
    def __call__(self, z):
        return nn.softplus(self.net(z))

class Critic(nn.Module):
    def __init__(self, h=32):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, h), nn.LeakyReLU(0.2), nn.Linear(h, h), nn.LeakyReLU(0.2), nn.Linear(h, 1, bias=False))
    def __call__(self, x):
        return self.net(x)

CLIP, N_CRITIC, BS, GEN_STEPS, Z = 0.05, 5, 128, 1000, 4
mx.random.seed(5)
G, D = Generator(Z), Critic()
mx.eval(G.parameters(), D.parameters())
opt_g, opt_d = optim.RMSprop(learning_rate=5e-4), optim.RMSprop(learning_rate=5e-4)

def critic_loss(D, real, fake):
    return D(fake).mean() - D(real).mean()        # = -(Wasserstein estimate)
def gen_loss(G, D, z):
    return -D(G(z)).mean()

d_vg = nn.value_and_grad(D, critic_loss)
def g_obj(G, z):
    return gen_loss(G, D, z)
g_vg = nn.value_and_grad(G, g_obj)

def audit(name, grads):
    leaves = tree_flatten(grads)
    zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
    return f"  {name}: {{leaves: {len(leaves)}, zero_grad: [{', '.join(zero)}]}}"

ref = np.sort(real_drops(20000)[:, 0])
def report_stats():
    z = mx.random.normal((20000, Z))
    fake = np.sort(np.array(G(z))[:, 0])
    w1 = float(np.abs(fake - ref).mean())
    return fake.mean(), fake.std(), w1, float((fake > 2.0).mean() * 100)

t0 = time.time()
print("---")
print("run: raindrop_wgan")
print(f"real: {{mean_mm: {ref.mean():.3f}, sd_mm: {ref.std():.3f}, share_over_2mm_pct: {(ref > 2).mean()*100:.1f}}}")
m, s, w1, big = report_stats()
print(f"untrained: {{mean_mm: {m:.3f}, sd_mm: {s:.3f}, w1_mm: {w1:.4f}}}")
print("grad_check:")
w_hist, g_hist = [], []
for step in range(1, GEN_STEPS + 1):
    for _ in range(N_CRITIC):
        real = mx.array(real_drops(BS))
        fake = mx.stop_gradient(G(mx.random.normal((BS, Z))))
        dl, dg = d_vg(D, real, fake)
        if step == 1 and not w_hist:
            print(audit("critic", dg))
        opt_d.update(D, dg)
        D.update(tree_map(lambda p: mx.clip(p, -CLIP, CLIP), D.parameters()))
        mx.eval(D.parameters(), opt_d.state, dl)
        w_hist.append(-dl.item())
    gl, gg = g_vg(G, mx.random.normal((BS, Z)))
    if step == 1:
        print(audit("generator", gg))
    opt_g.update(G, gg)
    mx.eval(G.parameters(), opt_g.state, gl)
    g_hist.append(gl.item())
    if step % 200 == 0:
        m, s, w1, big = report_stats()
        print("---")
        print(f"gen_step: {step}")
        print(f"critic_wasserstein_est: {np.mean(w_hist[-200:]):.5f}")
        print(f"generator_loss: {np.mean(g_hist[-40:]):.5f}")
        print(f"fake: {{mean_mm: {m:.3f}, sd_mm: {s:.3f}, share_over_2mm_pct: {big:.1f}}}")
        print(f"w1_to_real_mm: {w1:.4f}   # lower is better")
        print(f"elapsed_s: {time.time()-t0:.1f}")
print("...")
