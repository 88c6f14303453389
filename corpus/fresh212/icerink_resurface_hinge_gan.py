"""Hinge-loss GAN for ice-rink resurfacing readings.

Each reading is (ice thickness in mm, surface temperature in deg C) taken
after a resurfacing pass.  Three rink regimes (hockey, figure skating,
public session) give a 3-mode mixture.  A small generator learns to
produce plausible readings.

Schedule: the critic trains alone for the first 80 iterations (the
generator is held still on purpose), then both train with 2 critic
steps per generator step.
"""
import logging
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(levelname)s %(name)s | %(message)s")
log = logging.getLogger("rinkgan")

mx.random.seed(5)

REGIMES = [  # thickness mm, temp C, sd thick, sd temp, weight
    (25.0, -5.5, 1.2, 0.35, 0.45),   # hockey: thin, cold
    (38.0, -3.0, 1.5, 0.30, 0.30),   # figure skating: thick, softer
    (31.0, -4.2, 2.0, 0.50, 0.25),   # public session
]
Z_DIM = 4
ITERS = 700
D_ONLY = 80
N_CRITIC = 2
BATCH = 128


def sample_rink(n, key):
    k1, k2 = mx.random.split(key)
    w = mx.array([r[4] for r in REGIMES])
    comp = mx.random.categorical(mx.log(w), shape=(n,), key=k1)
    means = mx.array([[r[0], r[1]] for r in REGIMES])[comp]
    sds = mx.array([[r[2], r[3]] for r in REGIMES])[comp]
    return means + sds * mx.random.normal((n, 2), key=k2)


ref_pool = sample_rink(20000, mx.random.key(1))
center, scale = ref_pool.mean(axis=0), ref_pool.std(axis=0)


def norm(x):
    return (x - center) / scale


train_pool = norm(ref_pool)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(Z_DIM, 64), nn.Linear(64, 64), nn.Linear(64, 2)]

    def __call__(self, z):
        h = nn.leaky_relu(self.layers[0](z), 0.2)
        h = nn.leaky_relu(self.layers[1](h), 0.2)
        return self.layers[2](h)


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(2, 64), nn.Linear(64, 64), nn.Linear(64, 1)]

    def __call__(self, x):
        h = nn.leaky_relu(self.layers[0](x), 0.2)
        h = nn.leaky_relu(self.layers[1](h), 0.2)
        return self.layers[2](h).squeeze(-1)


G, D = Generator(), Critic()
mx.eval(G.parameters(), D.parameters())
opt_g = optim.Adam(learning_rate=6e-4, betas=[0.5, 0.9])
opt_d = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.9])


def d_loss(D, real, fake):
    r, f = D(real), D(fake)
    return mx.mean(nn.relu(1.0 - r)) + mx.mean(nn.relu(1.0 + f)), (r.mean(), f.mean())


def g_loss(G, z):
    return -mx.mean(D(G(z)))


d_step = nn.value_and_grad(D, d_loss)
g_step = nn.value_and_grad(G, g_loss)

PROJ = mx.random.normal((2, 16), key=mx.random.key(77))
PROJ = PROJ / mx.linalg.norm(PROJ, axis=0, keepdims=True)


def sliced_w1(a, b):
    pa = mx.sort(norm(a) @ PROJ, axis=0)
    pb = mx.sort(norm(b) @ PROJ, axis=0)
    return mx.mean(mx.abs(pa - pb)).item()


eval_real = sample_rink(2048, mx.random.key(2))
floor = sliced_w1(sample_rink(2048, mx.random.key(3)), eval_real)
eval_z = mx.random.normal((2048, Z_DIM), key=mx.random.key(4))
start_sw = sliced_w1(G(eval_z) * scale + center, eval_real)
log.info("G params %d  D params %d", sum(v.size for _, v in tree_flatten(G.parameters())),
         sum(v.size for _, v in tree_flatten(D.parameters())))
log.info("sliced-W1 noise floor (real vs real) %.4f   untrained G %.4f", floor, start_sw)

gl = mx.array(0.0)
for it in range(1, ITERS + 1):
    for c in range(N_CRITIC):
        k_r, k_z = mx.random.split(mx.random.key(10 * it + c))
        real = train_pool[mx.random.randint(0, train_pool.shape[0], (BATCH,), key=k_r)]
        fake = G(mx.random.normal((BATCH, Z_DIM), key=k_z))
        (dl, (dr, df)), grads = d_step(D, real, mx.stop_gradient(fake))
        opt_d.update(D, grads)
        mx.eval(D.parameters(), opt_d.state, dl, dr, df)
    if it > D_ONLY:
        z = mx.random.normal((BATCH, Z_DIM), key=mx.random.key(900000 + it))
        gl, ggrads = g_step(G, z)
        opt_g.update(G, ggrads)
        mx.eval(G.parameters(), opt_g.state, gl)
    if it == D_ONLY:
        log.info("critic warm-up over at it %d, generator joins", it)
    if it % 50 == 0:
        gen = G(eval_z) * scale + center
        sw = sliced_w1(gen, eval_real)
        log.info("it %4d  d_hinge %.3f  g_adv %+.3f  D(real) %+.2f  D(fake) %+.2f  "
                 "sW1 %.4f (floor %.4f)  thick %.1fmm temp %.2fC",
                 it, dl.item(), gl.item(), dr.item(), df.item(), sw, floor,
                 gen[:, 0].mean().item(), gen[:, 1].mean().item())

gen = G(eval_z) * scale + center
final_sw = sliced_w1(gen, eval_real)
thin = (gen[:, 0] < 28.0).mean().item()
thick = (gen[:, 0] > 35.0).mean().item()
ref_thin = (eval_real[:, 0] < 28.0).mean().item()
ref_thick = (eval_real[:, 0] > 35.0).mean().item()
log.info("summary: sW1 %.4f -> %.4f (floor %.4f)", start_sw, final_sw, floor)
log.info("share thin(<28mm) gen %.1f%% ref %.1f%% | thick(>35mm) gen %.1f%% ref %.1f%%",
         100 * thin, 100 * ref_thin, 100 * thick, 100 * ref_thick)
