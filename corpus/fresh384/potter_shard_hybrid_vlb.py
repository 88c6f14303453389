# Kiln glaze survey: 2-D diffusion model of (glaze thickness, fired colour index)
# trained with the hybrid objective of Nichol & Dhariwal (L_simple + lambda * L_vlb)
# and a learned interpolated variance. Held-out negative VLB is reported in nats/dim.
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

rng = np.random.default_rng(7)
mx.random.seed(7)

def make_shards(n):
    k = rng.choice(3, size=n, p=[0.45, 0.35, 0.20])
    out = np.zeros((n, 2), np.float32)
    # celadon: thin glaze, greenish index; tenmoku: thick, dark; ash glaze: curved run
    m = k == 0; out[m] = rng.normal([0.6, 2.0], [0.08, 0.25], (m.sum(), 2))
    m = k == 1; out[m] = rng.normal([1.6, -1.0], [0.15, 0.20], (m.sum(), 2))
    m = k == 2
    a = rng.uniform(0.2, 2.6, m.sum())
    out[m, 0] = 1.1 + 0.7 * np.cos(a) + rng.normal(0, 0.05, m.sum())
    out[m, 1] = 0.4 + 1.2 * np.sin(a) + rng.normal(0, 0.05, m.sum())
    return out

raw_tr, raw_te = make_shards(12000), make_shards(600)
mu, sd = raw_tr.mean(0), raw_tr.std(0)
x_tr = (raw_tr - mu) / sd
x_te = (raw_te - mu) / sd

T = 20
s = 0.008
steps_ = np.arange(T + 1, dtype=np.float64) / T
f = np.cos((steps_ + s) / (1 + s) * math.pi / 2) ** 2
ab_full = f / f[0]
betas = np.clip(1 - ab_full[1:] / ab_full[:-1], 0, 0.999)
alphas = 1 - betas
ab = np.cumprod(alphas)
ab_prev = np.concatenate([[1.0], ab[:-1]])
post_var = betas * (1 - ab_prev) / (1 - ab)
post_logvar = np.log(np.concatenate([[post_var[1]], post_var[1:]]))
c1 = betas * np.sqrt(ab_prev) / (1 - ab)
c2 = (1 - ab_prev) * np.sqrt(alphas) / (1 - ab)
A = {k: mx.array(v.astype(np.float32)) for k, v in dict(
    ab=ab, betas=betas, post_logvar=post_logvar, c1=c1, c2=c2, logbeta=np.log(betas)).items()}

class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.l1 = nn.Linear(d, d)
        self.l2 = nn.Linear(d, d)
    def __call__(self, h):
        return h + self.l2(nn.silu(self.l1(nn.silu(self.norm(h)))))

class Denoiser(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self._freq = mx.array(np.exp(np.linspace(0, np.log(40.0), 8)).astype(np.float32))
        self.inp = nn.Linear(2 + 16, d)
        self.blocks = [Block(d) for _ in range(2)]
        self.out = nn.Linear(d, 4)
    def __call__(self, x, t):
        tt = (t.astype(mx.float32) / T)[:, None] * self._freq[None]
        h = self.inp(mx.concatenate([x, mx.sin(tt), mx.cos(tt)], -1))
        for b in self.blocks:
            h = b(h)
        o = self.out(h)
        return o[:, :2], o[:, 2:]

def p_stats(eps_hat, v, x_t, t):
    abt = A["ab"][t][:, None]
    x0_hat = (x_t - mx.sqrt(1 - abt) * eps_hat) / mx.sqrt(abt)
    mean = A["c1"][t][:, None] * x0_hat + A["c2"][t][:, None] * x_t
    frac = (v + 1) / 2
    logvar = frac * A["logbeta"][t][:, None] + (1 - frac) * A["post_logvar"][t][:, None]
    return mean, logvar

def vlb_terms(mean_p, logvar_p, x0, x_t, t):
    mean_q = A["c1"][t][:, None] * x0 + A["c2"][t][:, None] * x_t
    logvar_q = A["post_logvar"][t][:, None]
    kl = 0.5 * (-1.0 + logvar_p - logvar_q + mx.exp(logvar_q - logvar_p)
                + (mean_q - mean_p) ** 2 * mx.exp(-logvar_p))
    nll = 0.5 * (math.log(2 * math.pi) + logvar_p + (x0 - mean_p) ** 2 * mx.exp(-logvar_p))
    return mx.where((t == 0)[:, None], nll, kl).mean(-1)   # nats per dim

LAM = 0.01

def loss_fn(model, x0, t, noise):
    abt = A["ab"][t][:, None]
    x_t = mx.sqrt(abt) * x0 + mx.sqrt(1 - abt) * noise
    eps_hat, v = model(x_t, t)
    l_simple = ((eps_hat - noise) ** 2).mean()
    mean_p, logvar_p = p_stats(mx.stop_gradient(eps_hat), v, x_t, t)
    l_vlb = vlb_terms(mean_p, logvar_p, x0, x_t, t).mean()
    return l_simple + LAM * l_vlb, (l_simple, l_vlb)

model = Denoiser()
STEPS, BATCH = 1200, 128
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 100),
                              optim.cosine_decay(3e-3, STEPS - 100, 1e-5)], [100])
opt = optim.Adam(learning_rate=sched)
opt.init(model.trainable_parameters())
vg = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state]

@partial(mx.compile, inputs=state, outputs=state)
def step(x0, t, noise):
    (loss, (ls, lv)), g = vg(model, x0, t, noise)
    opt.update(model, g)
    return loss, ls, lv

def heldout_nll(x0):
    x0 = mx.array(x0)
    n = x0.shape[0]
    total = mx.zeros((n,))
    k = mx.random.key(123)
    for ti in range(T):
        k, sub = mx.random.split(k)
        t = mx.full((n,), ti, dtype=mx.int32)
        noise = mx.random.normal(x0.shape, key=sub)
        abt = A["ab"][t][:, None]
        x_t = mx.sqrt(abt) * x0 + mx.sqrt(1 - abt) * noise
        eps_hat, v = model(x_t, t)
        mean_p, logvar_p = p_stats(eps_hat, v, x_t, t)
        total = total + vlb_terms(mean_p, logvar_p, x0, x_t, t)
    abT = float(ab[-1])
    mT = math.sqrt(abT) * x0
    prior = 0.5 * (-1.0 - math.log(1 - abT) + (1 - abT) + mT ** 2).mean(-1)
    total = total + prior
    mx.eval(total)
    return float(total.mean())

cov = np.cov(x_tr.T)
inv = np.linalg.inv(cov)
_, logdet = np.linalg.slogdet(cov)
d = x_te - x_tr.mean(0)
gauss_nll = float(np.mean(0.5 * (np.einsum("ni,ij,nj->n", d, inv, d) + logdet + 2 * math.log(2 * math.pi)))) / 2

print(f"kiln survey: {len(x_tr)} train shards, {len(x_te)} held-out, T={T}, lambda={LAM}")
print(f"reference: full-covariance Gaussian held-out NLL {gauss_nll:.4f} nats/dim")
print(f"untrained: held-out -VLB {heldout_nll(x_te):.4f} nats/dim")
print(f"{'step':>6} {'lr':>9} {'L_simple':>9} {'L_vlb':>9} {'hybrid':>9} {'-VLB(te)':>9} {'secs':>6}")

t0 = time.time()
acc = []
for it in range(1, STEPS + 1):
    idx = rng.integers(0, len(x_tr), BATCH)
    x0 = mx.array(x_tr[idx])
    t = mx.array(rng.integers(0, T, BATCH).astype(np.int32))
    noise = mx.array(rng.standard_normal((BATCH, 2)).astype(np.float32))
    lr_now = float(sched(opt.step))
    loss, ls, lv = step(x0, t, noise)
    mx.eval(loss, ls, lv, state)
    acc.append((float(ls), float(lv), float(loss)))
    if it == 1 or it % 200 == 0:
        a = np.mean(acc, 0); acc = []
        te = f"{heldout_nll(x_te):9.4f}" if (it % 600 == 0 or it == 1) else f"{'':>9}"
        print(f"{it:6d} {lr_now:9.2e} {a[0]:9.4f} {a[1]:9.4f} {a[2]:9.4f} {te} {time.time()-t0:6.1f}")

final = heldout_nll(x_te)
print(f"final held-out -VLB {final:.4f} nats/dim (Gaussian reference {gauss_nll:.4f}, gain {gauss_nll-final:+.4f})")
