"""Synthetic bus headways (minutes between consecutive buses on a bunching route)
learned by a tiny GAN. Two players: the discriminator's loss and the generator's
loss trade places as training goes on. Progress rows are CSV on stdout."""
import csv, sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(5)

def real_headways(n):
    # 70% regular service ~ N(10, 1.5), 30% bunched pairs ~ Gamma(2, 1.2) (short gaps)
    bunched = rng.random(n) < 0.3
    h = np.where(bunched, rng.gamma(2.0, 1.2, n), rng.normal(10.0, 1.5, n))
    return np.clip(h, 0.2, None).astype(np.float32)

POOL = real_headways(40000)
SCALE_MU, SCALE_SD = float(POOL.mean()), float(POOL.std())
NOISE = 4


class Gen(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(NOISE, 48), nn.LeakyReLU(0.2),
                                 nn.Linear(48, 48), nn.LeakyReLU(0.2), nn.Linear(48, 1))

    def __call__(self, z):
        return self.net(z)


class Disc(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, 48), nn.LeakyReLU(0.2),
                                 nn.Linear(48, 48), nn.LeakyReLU(0.2), nn.Linear(48, 1))

    def __call__(self, x):
        return self.net(x).squeeze(-1)


def bce(logits, target):
    return nn.losses.binary_cross_entropy(logits, target, with_logits=True, reduction="mean")


def d_loss_fn(D, real, fake):
    return 0.5 * (bce(D(real), mx.ones(real.shape[0])) + bce(D(fake), mx.zeros(fake.shape[0])))


def g_loss_fn(G, D, z):
    # non-saturating generator loss
    return bce(D(G(z)), mx.ones(z.shape[0]))


mx.random.seed(0)
G, D = Gen(), Disc()
mx.eval(G.parameters(), D.parameters())
opt_g = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])
opt_d = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])
d_vg = nn.value_and_grad(D, d_loss_fn)
g_vg = nn.value_and_grad(G, lambda G_, z: g_loss_fn(G_, D, z))

eval_real = np.sort(real_headways(4000))
eval_z = mx.random.normal((4000, NOISE))


def sample_stats():
    fake = np.array(G(eval_z)).ravel() * SCALE_SD + SCALE_MU
    w1 = float(np.abs(np.sort(fake) - eval_real).mean())
    short = 100.0 * float((fake < 4.0).mean())
    return float(fake.mean()), float(fake.std()), w1, short


out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["step", "d_loss", "g_loss", "d_acc_real_pct", "gen_mean_min", "gen_std_min",
              "w1_to_data_min", "gen_bunched_pct", "secs"])
m0, s0, w0, b0 = sample_stats()
out.writerow([0, "", "", "", f"{m0:.2f}", f"{s0:.2f}", f"{w0:.3f}", f"{b0:.1f}", "0.0"])
print(f"# real data: mean {POOL.mean():.2f} min, std {POOL.std():.2f}, "
      f"bunched(<4 min) {100*(POOL < 4).mean():.1f}%", file=sys.stderr)

B, STEPS, EVERY = 128, 3000, 250
t0 = time.time()
d_hist, g_hist, acc_hist = [], [], []
for step in range(1, STEPS + 1):
    real = mx.array((POOL[rng.integers(0, POOL.size, B)] - SCALE_MU) / SCALE_SD)[:, None]
    z = mx.random.normal((B, NOISE))
    fake = mx.stop_gradient(G(z))
    dl, dg = d_vg(D, real, fake)
    z2 = mx.random.normal((B, NOISE))
    gl, gg = g_vg(G, z2)
    if step == 1:
        for name, grads in (("D", dg), ("G", gg)):
            leaves = tree_flatten(grads)
            nz = sum(1 for _, g in leaves if float(mx.abs(g).max()) > 0)
            print(f"# step-1 gradient check {name}: {nz}/{len(leaves)} leaves non-zero", file=sys.stderr)
    opt_d.update(D, dg)
    opt_g.update(G, gg)
    acc = (D(real) > 0).astype(mx.float32).mean()
    mx.eval(D.parameters(), G.parameters(), opt_d.state, opt_g.state, dl, gl, acc)
    d_hist.append(dl.item()); g_hist.append(gl.item()); acc_hist.append(acc.item())
    if step % EVERY == 0:
        m, s, w, b = sample_stats()
        out.writerow([step, f"{np.mean(d_hist):.4f}", f"{np.mean(g_hist):.4f}",
                      f"{100*np.mean(acc_hist):.1f}", f"{m:.2f}", f"{s:.2f}", f"{w:.3f}",
                      f"{b:.1f}", f"{time.time()-t0:.1f}"])
        d_hist, g_hist, acc_hist = [], [], []
