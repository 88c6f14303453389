# WGAN-GP on the classic 8-Gaussians ring (2-D).  Critic is trained 5x per
# generator step with a gradient penalty computed by differentiating the
# critic w.r.t. its INPUT inside the critic loss (double backward).
import math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)
CENTERS = mx.array([[2 * math.cos(2 * math.pi * k / 8), 2 * math.sin(2 * math.pi * k / 8)] for k in range(8)])


def real_batch(n):
    idx = mx.random.randint(0, 8, (n,))
    return CENTERS[idx] + 0.05 * mx.random.normal((n, 2))


class MLP(nn.Module):
    def __init__(self, din, dout, h=64, out_bias=True):
        super().__init__()
        self.l1, self.l2 = nn.Linear(din, h), nn.Linear(h, h)
        self.l3 = nn.Linear(h, dout, bias=out_bias)

    def __call__(self, x):
        return self.l3(nn.relu(self.l2(nn.relu(self.l1(x)))))


# critic output bias would cancel in D(real)-D(fake) and in the penalty -> bias-free head
G, D = MLP(4, 2), MLP(2, 1, out_bias=False)
mx.eval(G.parameters(), D.parameters())
optG = optim.Adam(learning_rate=2e-3, betas=[0.5, 0.9])
optD = optim.Adam(learning_rate=2e-3, betas=[0.5, 0.9])
LAMBDA, N_CRITIC, BS = 10.0, 5, 128


def critic_loss(D, real, fake, eps):
    inter = eps * real + (1 - eps) * fake
    gx = mx.grad(lambda z: D(z).sum())(inter)                # d critic / d input
    gp = ((mx.sqrt((gx * gx).sum(-1) + 1e-12) - 1.0) ** 2).mean()
    gap = D(real).mean() - D(fake).mean()                     # Wasserstein estimate
    return -gap + LAMBDA * gp, (gap, gp)


def gen_loss(G, z):
    return -D(G(z)).mean()


d_vg = nn.value_and_grad(D, critic_loss)
g_vg = nn.value_and_grad(G, gen_loss)
from functools import partial


@partial(mx.compile, inputs=[D.state, optD.state, mx.random.state], outputs=[D.state, optD.state, mx.random.state])
def d_step(fake):
    (lossD, (gap, gp)), gD = d_vg(D, real_batch(BS), fake, mx.random.uniform(shape=(BS, 1)))
    optD.update(D, gD)
    return lossD, gap, gp


@partial(mx.compile, inputs=[G.state, D.state, optG.state, mx.random.state], outputs=[G.state, optG.state, mx.random.state])
def g_step():
    lossG, gG = g_vg(G, mx.random.normal((BS, 4)))
    optG.update(G, gG)
    return lossG


def quality(n=2000):
    s = G(mx.random.normal((n, 4)))
    d = mx.sqrt(((s[:, None, :] - CENTERS[None]) ** 2).sum(-1))   # (n, 8)
    nearest, dmin = mx.argmin(d, 1), mx.min(d, 1)
    good = dmin < 0.25                                            # within ~5 sd of a mode
    hits = [((nearest == k) & good).sum().item() for k in range(8)]
    modes = sum(h >= 0.02 * n for h in hits)
    return modes, good.astype(mx.float32).mean().item()


# one-off gradient check per leaf (both networks)
(_, _), gD = d_vg(D, real_batch(BS), G(mx.random.normal((BS, 4))), mx.random.uniform(shape=(BS, 1)))
gG = g_vg(G, mx.random.normal((BS, 4)))[1]
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(gD) + tree_flatten(gG) if mx.abs(v).max().item() == 0]
print(f"# grad leaves D={len(tree_flatten(gD))} G={len(tree_flatten(gG))} all-zero={zero}")

t0 = time.time()
for it in range(1, 1201):
    for _ in range(N_CRITIC):
        lossD, gap, gp = d_step(mx.stop_gradient(G(mx.random.normal((BS, 4)))))
        mx.eval(D.parameters(), optD.state)
    lossG = g_step()
    mx.eval(G.parameters(), optG.state, lossD, lossG)
    if it in (1, 50) or it % 200 == 0:
        modes, good = quality()
        print(f"gen_iter::{it}  critic_obj::{lossD.item():+.4f}  w_gap::{gap.item():.4f}  "
              f"gp::{gp.item():.4f}  gen_obj::{lossG.item():+.4f}  modes::{modes}/8  "
              f"on_mode::{good:.3f}  t::{time.time()-t0:.1f}s", flush=True)
