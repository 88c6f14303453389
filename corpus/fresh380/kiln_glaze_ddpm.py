import math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
D = 8  # hourly kiln temperatures, scaled


def firing_profiles(n):
    peak = rng.uniform(0.6, 1.0, (n, 1))
    soak = rng.integers(3, 6, (n, 1))
    hours = np.arange(D)[None, :]
    ramp = peak * np.minimum(hours / soak, 1.0)
    cool = np.where(hours > soak + 1, -0.15 * (hours - soak - 1), 0.0)
    return (ramp + cool + 0.03 * rng.standard_normal((n, D))).astype(np.float32)


train = firing_profiles(6000)
mu, sd = train.mean(0), train.std(0) + 1e-6
train = (train - mu) / sd
held = (firing_profiles(1000) - mu) / sd
print(f"kiln profiles: train {train.shape} held {held.shape}")

T = 100
betas = np.linspace(1e-4, 0.05, T).astype(np.float32)
abar = mx.array(np.cumprod(1 - betas))


class Denoiser(nn.Module):
    def __init__(self, h=96):
        super().__init__()
        self.inp = nn.Linear(D + 16, h)
        self.l1 = nn.Linear(h, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, D)

    def __call__(self, x, t):
        freqs = mx.exp(-math.log(1000.0) * mx.arange(8) / 8)
        ang = t[:, None].astype(mx.float32) * freqs[None, :]
        emb = mx.concatenate([mx.sin(ang), mx.cos(ang)], axis=1)
        h = nn.silu(self.inp(mx.concatenate([x, emb], axis=1)))
        h = h + nn.silu(self.l1(h))
        h = h + nn.silu(self.l2(h))
        return self.out(h)


def loss_fn(model, x0, t, eps):
    a = abar[t][:, None]
    xt = mx.sqrt(a) * x0 + mx.sqrt(1 - a) * eps
    return mx.mean((model(xt, t) - eps) ** 2)


def held_loss(model, seed):
    key = mx.random.key(seed)
    k1, k2 = mx.random.split(key)
    x0 = mx.array(held)
    t = mx.random.randint(0, T, (x0.shape[0],), key=k1)
    eps = mx.random.normal(x0.shape, key=k2)
    return loss_fn(model, x0, t, eps).item()


def make_opt(total):
    warm = optim.linear_schedule(0.0, 2e-3, 150)
    decay = optim.cosine_decay(2e-3, total - 150, end=1e-5)
    return optim.Adam(learning_rate=optim.join_schedules([warm, decay], [150]))


def run(model, opt, start, stop, tag):
    vg = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for step in range(start, stop):
        idx = rng.integers(0, train.shape[0], 128)
        x0 = mx.array(train[idx])
        t = mx.random.randint(0, T, (128,))
        eps = mx.random.normal(x0.shape)
        loss, g = vg(model, x0, t, eps)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if step == start or (step + 1) % 200 == 0:
            print(f"[{tag}] step {step+1:5d} lr {opt.learning_rate.item():.2e} "
                  f"train {loss.item():.4f} held {held_loss(model, 1):.4f} ({time.time()-t0:.1f}s)")


def sample(model, n, seed):
    mx.random.seed(seed)
    x = mx.random.normal((n, D))
    for i in reversed(range(T)):
        t = mx.full((n,), i, dtype=mx.int32)
        b = betas[i]
        a = abar[i]
        eps = model(x, t)
        x = (x - b / mx.sqrt(1 - a) * eps) / math.sqrt(1 - b)
        if i > 0:
            x = x + math.sqrt(b) * mx.random.normal(x.shape)
    mx.eval(x)
    return np.array(x)


mx.random.seed(0)
TOTAL = 1600
model = Denoiser()
mx.eval(model.parameters())
opt = make_opt(TOTAL)
print(f"untrained held loss {held_loss(model, 1):.4f}  (predicting zero noise would give ~1.0)")
run(model, opt, 0, 800, "first")

ckpt = os.path.join(tempfile.mkdtemp(), "kiln.safetensors")
state = dict(tree_flatten(model.parameters()))
state.update({f"opt.{k}": v for k, v in tree_flatten(opt.state)})
mx.save_safetensors(ckpt, state)
print(f"checkpoint written after step 800 -> {os.path.basename(ckpt)}")

loaded = mx.load(ckpt)
model2 = Denoiser()
model2.update(tree_unflatten([(k, v) for k, v in loaded.items() if not k.startswith("opt.")]))
opt2 = make_opt(TOTAL)
opt2.init(model2.trainable_parameters())
opt2.state = tree_unflatten([(k[4:], v) for k, v in loaded.items() if k.startswith("opt.")])
mx.eval(model2.parameters(), opt2.state)
print(f"resumed at step {opt2.step.item()}  held {held_loss(model2, 1):.4f}")
run(model2, opt2, 800, TOTAL, "resumed")

gen = sample(model2, 1000, 3)
noise = np.random.default_rng(5).standard_normal((1000, D)).astype(np.float32)
def gap(x):
    return float(np.abs(x.mean(0) - held.mean(0)).mean() + np.abs(np.corrcoef(x.T) - np.corrcoef(held.T)).mean())
print(f"moment gap vs held-out: samples {gap(gen):.3f}  plain-noise baseline {gap(noise):.3f}")
print("done")
