# Yodel pitch sampler: a tiny 1-D GAN learns the two-register distribution of
# sung pitch (semitones above the singer's chest-register home note).
# Chest register ~ N(0, 1.2), head register ~ N(+9, 1.0); 55/45 mix.
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
rs = np.random.default_rng(11)


def sample_real(n):
    head = rs.uniform(size=n) < 0.45
    x = np.where(head, rs.normal(9.0, 1.0, n), rs.normal(0.0, 1.2, n))
    return mx.array(x[:, None].astype(np.float32))


ref = np.array(sample_real(20000)).ravel()
REF_MEAN, REF_STD, REF_HEAD = ref.mean(), ref.std(), (ref > 4.5).mean()
SCALE = 5.0  # generator/discriminator work in pitch/5


class Gen(nn.Module):
    def __init__(self, z=4, h=48):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z, h), nn.LeakyReLU(0.2), nn.Linear(h, h),
                                 nn.LeakyReLU(0.2), nn.Linear(h, 1))

    def __call__(self, z):
        return self.net(z)


class Disc(nn.Module):
    def __init__(self, h=48):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, h), nn.LeakyReLU(0.2), nn.Linear(h, h),
                                 nn.LeakyReLU(0.2), nn.Linear(h, 1))

    def __call__(self, x):
        return self.net(x)


G, D = Gen(), Disc()
warm = 150
sched_g = optim.join_schedules([optim.linear_schedule(0.0, 1e-3, warm), optim.cosine_decay(1e-3, 3000, 2e-4)], [warm])
sched_d = optim.join_schedules([optim.linear_schedule(0.0, 1e-3, warm), optim.cosine_decay(1e-3, 3000, 2e-4)], [warm])
opt_g = optim.Adam(learning_rate=sched_g, betas=[0.5, 0.99])
opt_d = optim.Adam(learning_rate=sched_d, betas=[0.5, 0.99])
BS = 128


def d_loss_fn(D, real, fake):
    lr_, lf_ = D(real), D(fake)
    l = nn.losses.binary_cross_entropy(lr_, mx.ones_like(lr_), with_logits=True) \
        + nn.losses.binary_cross_entropy(lf_, mx.zeros_like(lf_), with_logits=True)
    return l, (mx.sigmoid(lr_).mean(), mx.sigmoid(lf_).mean())


def g_loss_fn(G, D, z):
    lf_ = D(G(z))
    return nn.losses.binary_cross_entropy(lf_, mx.ones_like(lf_), with_logits=True)


d_vg = nn.value_and_grad(D, d_loss_fn)
g_vg = nn.value_and_grad(G, g_loss_fn)
state = [G.state, D.state, opt_g.state, opt_d.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(real):
    z = mx.random.normal((real.shape[0], 4))
    fake = mx.stop_gradient(G(z))
    (dl, (dr, df)), dg = d_vg(D, real / SCALE, fake)
    opt_d.update(D, dg)
    z2 = mx.random.normal((real.shape[0], 4))
    gl, gg = g_vg(G, D, z2)
    opt_g.update(G, gg)
    return dl, gl, dr, df


def w1_to_ref(samples):
    a = np.sort(samples)
    q = np.quantile(ref, (np.arange(len(a)) + 0.5) / len(a))
    return float(np.abs(a - q).mean())


def describe():
    s = np.array(G(mx.random.normal((5000, 4)))).ravel() * SCALE
    return s.mean(), s.std(), (s > 4.5).mean(), w1_to_ref(s)


m0, s0, h0, w0 = describe()
single_gauss = rs.normal(REF_MEAN, REF_STD, 5000)
W_BASE = w1_to_ref(single_gauss)
print(f"{'step':>5} | {'lr':>8} | {'d_loss':>6} | {'g_loss':>6} | {'D(x)':>5} | {'D(G)':>5} | "
      f"{'mean st':>7} | {'sd st':>5} | {'head%':>5} | {'W1 st':>5}")
print(f"{'ref':>5} | {'':>8} | {'':>6} | {'':>6} | {'':>5} | {'':>5} | {REF_MEAN:7.2f} | {REF_STD:5.2f} | "
      f"{100 * REF_HEAD:5.1f} | {0.0:5.2f}")
print(f"{0:5d} | {0.0:8.2e} | {'-':>6} | {'-':>6} | {'-':>5} | {'-':>5} | {m0:7.2f} | {s0:5.2f} | "
      f"{100 * h0:5.1f} | {w0:5.2f}")
acc = np.zeros(4)
n_acc = 0
for step in range(1, 3001):
    lr_now = float(sched_g(opt_g.step))
    out = train_step(sample_real(BS))
    mx.eval(state, out)
    acc += np.array([o.item() for o in out])
    n_acc += 1
    if step % 300 == 0:
        dl, gl, dr, df = acc / n_acc
        m, s, h, w = describe()
        print(f"{step:5d} | {lr_now:8.2e} | {dl:6.3f} | {gl:6.3f} | {dr:5.2f} | {df:5.2f} | "
              f"{m:7.2f} | {s:5.2f} | {100 * h:5.1f} | {w:5.2f}")
        acc[:] = 0
        n_acc = 0

m, s, h, w = describe()
print(f"summary: W1 to reference {w0:.2f} -> {w:.2f} st (one-Gaussian baseline {W_BASE:.2f} st); "
      f"head register {100 * h:.1f}% vs {100 * REF_HEAD:.1f}%")
