# Oboe cane sorting: learn the joint distribution of (gouge thickness mm, tube diameter mm,
# hardness shore) of cane pieces that passed the reed-maker's sort, with a small hinge-loss GAN.
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N = 6000
# three cane sources, each its own cluster
centers = np.array([[0.58, 10.2, 62.0], [0.62, 10.6, 70.0], [0.55, 10.0, 55.0]])
scales = np.array([[0.010, 0.12, 2.0], [0.012, 0.10, 2.5], [0.008, 0.15, 2.0]])
src = rng.choice(3, size=N, p=[0.45, 0.35, 0.20])
raw = centers[src] + scales[src] * rng.standard_normal((N, 3))
mu, sd = raw.mean(0), raw.std(0)
real = mx.array(((raw - mu) / sd).astype(np.float32))

class Gen(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 3))
    def __call__(self, z):
        return self.net(z)

class Disc(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))
    def __call__(self, x):
        return self.net(x).squeeze(-1)

mx.random.seed(7)
G, D = Gen(), Disc()
optG = optim.Adam(learning_rate=5e-4, betas=[0.5, 0.9])
optD = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.9])

def d_loss(D, xr, xf):
    return nn.relu(1.0 - D(xr)).mean() + nn.relu(1.0 + D(xf)).mean()

def g_loss(G, z):
    return -D(G(z)).mean()

d_step = nn.value_and_grad(D, d_loss)
g_step = nn.value_and_grad(G, g_loss)

def energy_distance(a, b):
    # a, b: (n,3) numpy arrays; lower = closer distributions
    def md(x, y):
        return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)).mean()
    return 2 * md(a, b) - md(a, a) - md(b, b)

ref_idx = rng.choice(N, 300, replace=False)
ref = np.array(real[mx.array(ref_idx)])
# baseline: a second real sample vs the reference (what a perfect generator would score)
floor = energy_distance(np.array(real[mx.array(rng.choice(N, 300, replace=False))]), ref)

B = 128
print("step   D_hinge  G_adv   D(real)  D(fake)   edist   [real-vs-real]")
fake0 = np.array(G(mx.random.normal((300, 4))))
print(f"    0     -        -        -        -      {energy_distance(fake0, ref):.4f}  [{floor:.4f}]")
for step in range(1, 2001):
    idx = mx.array(rng.integers(0, N, B))
    xr = real[idx]
    z = mx.random.normal((B, 4))
    xf = mx.stop_gradient(G(z))
    ld, gd = d_step(D, xr, xf)
    optD.update(D, gd)
    z = mx.random.normal((B, 4))
    lg, gg = g_step(G, z)
    optG.update(G, gg)
    mx.eval(D.parameters(), G.parameters(), optD.state, optG.state, ld, lg)
    if step == 20:
        zero_g = [k for k, v in nn.utils.tree_flatten(gg) if float(mx.abs(v).sum()) == 0.0]
        zero_d = [k for k, v in nn.utils.tree_flatten(gd) if float(mx.abs(v).sum()) == 0.0]
        print(f"grad check: zero-grad tensors G={zero_g} D={zero_d}")
    if step % 250 == 0:
        fake = np.array(G(mx.random.normal((300, 4))))
        ed = energy_distance(fake, ref)
        dr = float(D(xr).mean()); df = float(D(xf).mean())
        print(f"{step:5d}  {ld.item():7.4f}  {lg.item():6.3f}  {dr:7.3f}  {df:7.3f}   {ed:.4f}  [{floor:.4f}]")
    if step % 1000 == 0 or step == 2000:
        fake = np.array(G(mx.random.normal((3000, 4)))) * sd + mu
        print("  audit  gouge mm  diam mm  shore   (gen | cane)")
        for j, nm in enumerate(["mean", "std"]):
            f = fake.mean(0) if j == 0 else fake.std(0)
            r = raw.mean(0) if j == 0 else raw.std(0)
            print(f"  {nm:5s}  {f[0]:.4f}|{r[0]:.4f}  {f[1]:.3f}|{r[1]:.3f}  {f[2]:.2f}|{r[2]:.2f}")
fake = np.array(G(mx.random.normal((300, 4))))
print(f"final energy distance {energy_distance(fake, ref):.4f} (real-vs-real {floor:.4f}, at step 0 see first row)")
