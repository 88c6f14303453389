"""Coffee roastery: learn the joint spread of (first-crack time, bean temperature at
first crack) over roast batches with a weight-clipped Wasserstein GAN.

The batches come from a made-up roaster law: long roasts crack hotter (a bent,
banana-shaped cloud).  A critic (weights clipped to +/-CLIP after every update) and
a generator are trained in turn, 5 critic steps per generator step, both compiled.
"""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(7)


def roast_batches(n):
    z1 = rng.standard_normal(n)
    z2 = rng.standard_normal(n)
    t = 8.5 + 1.1 * z1                                   # minutes to first crack
    temp = 196.0 + 2.2 * (t - 8.5) ** 2 - 3.0 + 1.6 * z2  # deg C at first crack
    return np.stack([t, temp], 1).astype(np.float32)


train_np = roast_batches(6000)
hold_np = roast_batches(1024)
mu, sd = train_np.mean(0), train_np.std(0)
train = mx.array((train_np - mu) / sd)
hold = mx.array((hold_np - mu) / sd)

NOISE = 4
CLIP = 0.1
N_CRITIC = 5
STEPS = 1600
BATCH = 128


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(NOISE, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 2)

    def __call__(self, z):
        h = nn.leaky_relu(self.l1(z), 0.2)
        h = nn.leaky_relu(self.l2(h), 0.2)
        return self.out(h)


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1, bias=False)  # a bias cancels in E[f(fake)] - E[f(real)]

    def __call__(self, x):
        h = nn.leaky_relu(self.l1(x), 0.2)
        h = nn.leaky_relu(self.l2(h), 0.2)
        return self.out(h).squeeze(-1)


mx.random.seed(3)
gen, critic = Generator(), Critic()
mx.eval(gen.parameters(), critic.parameters())
opt_c = optim.RMSprop(learning_rate=1e-3)
opt_g = optim.RMSprop(learning_rate=5e-4)


def critic_loss(c, real, fake):
    # minimise E[f(fake)] - E[f(real)]  (=> -W estimate)
    return c(fake).mean() - c(real).mean()


def gen_loss(g, z):
    return -critic(g(z)).mean()


c_grad = nn.value_and_grad(critic, critic_loss)
g_grad = nn.value_and_grad(gen, gen_loss)

c_state = [critic.state, opt_c.state]
g_state = [gen.state, opt_g.state]


@partial(mx.compile, inputs=c_state + [gen.state], outputs=c_state)
def critic_step(real, z):
    fake = gen(z)
    loss, grads = c_grad(critic, real, fake)
    opt_c.update(critic, grads)
    critic.update(tree_map(lambda p: mx.clip(p, -CLIP, CLIP), critic.parameters()))
    return loss


@partial(mx.compile, inputs=g_state + [critic.state], outputs=g_state)
def gen_step(z):
    loss, grads = g_grad(gen, z)
    opt_g.update(gen, grads)
    return loss


def mmd2(a, b, bw=1.0):
    def k(x, y):
        d = (x[:, None, :] - y[None, :, :]).square().sum(-1)
        return mx.exp(-d / (2 * bw * bw))
    return k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean()


ref = mmd2(hold[:512], hold[512:]).item()


def bar(i, n, t0, extra):
    frac = i / n
    filled = int(10 * frac)
    el = time.perf_counter() - t0
    rate = i / max(el, 1e-9)
    left = (n - i) / max(rate, 1e-9)
    return (f"crack-wgan {int(100 * frac):3d}%|{'#' * filled}{' ' * (10 - filled)}| "
            f"{i}/{n} [{el:05.1f}s<{left:05.1f}s, {rate:6.1f}it/s, {extra}]")


print(f"roast batches: {len(train_np)} train / {len(hold_np)} held out; "
      f"real/real mmd2 floor = {ref:.4f}")
t0 = time.perf_counter()
n = train.shape[0]
w_hist = []
for step in range(1, STEPS + 1):
    for _ in range(N_CRITIC):
        idx = mx.random.randint(0, n, (BATCH,))
        z = mx.random.normal((BATCH, NOISE))
        lc = critic_step(train[idx], z)
        mx.eval(lc, critic.parameters(), opt_c.state)
    z = mx.random.normal((BATCH, NOISE))
    lg = gen_step(z)
    mx.eval(lg, gen.parameters(), opt_g.state)
    w_hist.append(-lc.item())

    if step % (STEPS // 10) == 0:
        w = float(np.mean(w_hist[-50:]))
        print(bar(step, STEPS, t0, f"W={w:.4f}, g={lg.item():+.4f}"))
    if step % (STEPS // 4) == 0 or step == 1:
        fake = gen(mx.random.normal((512, NOISE)))
        m = mmd2(fake, hold[:512]).item()
        f_np = np.array(fake) * sd + mu
        print(f"  audit step={step:<5d} mmd2={m:.4f} (floor {ref:.4f})  "
              f"crack_t={f_np[:, 0].mean():.2f}+-{f_np[:, 0].std():.2f} min "
              f"(real {hold_np[:, 0].mean():.2f}+-{hold_np[:, 0].std():.2f})  "
              f"crack_T={f_np[:, 1].mean():.1f}+-{f_np[:, 1].std():.1f} C "
              f"(real {hold_np[:, 1].mean():.1f}+-{hold_np[:, 1].std():.1f})")

# curvature check: hotter cracks for long roasts?  slope of T on (t-8.5)^2
fake = np.array(gen(mx.random.normal((2048, NOISE)))) * sd + mu
A = np.stack([np.ones(len(fake)), (fake[:, 0] - 8.5) ** 2], 1)
coef = np.linalg.lstsq(A, fake[:, 1], rcond=None)[0]
print(f"bend: dT/d(t-8.5)^2 = {coef[1]:.2f} C/min^2 (roaster law 2.20)")
maxw = max(float(mx.abs(p).max().item()) for _, p in
           __import__('mlx.utils', fromlist=['tree_flatten']).tree_flatten(critic.parameters()))
print(f"critic max |w| = {maxw:.3f} (clip {CLIP})  done in {time.perf_counter() - t0:.1f}s")
