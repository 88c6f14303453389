# Change ringing tower: generative model of the 6 strike-time errors (ms) of one row of bells.
# Linear-path flow matching, LR warm-up from exactly 0 then constant, EMA weights for sampling,
# run split in two sessions: checkpoint at step 250, fresh process-style rebuild from disk, resume.
import os
import shutil
import tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

rng = np.random.default_rng(11)


def rows(n):
    # treble leads tight, tenor lags, a shared "band tempo" drift, odd-struck handstroke gaps
    tempo = rng.normal(0, 12, size=(n, 1))
    base = np.array([0.0, 3.0, 5.0, 6.0, 9.0, 18.0])
    spread = np.array([4.0, 6.0, 7.0, 7.0, 8.0, 11.0])
    e = base + tempo * np.linspace(0.4, 1.0, 6) + rng.normal(0, 1, size=(n, 6)) * spread
    hand = rng.random(n) < 0.5
    e[hand, 0] += 25.0  # handstroke gap before the treble
    return e.astype(np.float32)


data = rows(20000)
held = rows(2000)
mu, sd = data.mean(0), data.std(0)
X = mx.array((data - mu) / sd)
H = mx.array((held - mu) / sd)


class Net(nn.Module):
    def __init__(self, d=6, w=96):
        super().__init__()
        self.l1 = nn.Linear(d + 1, w)
        self.l2 = nn.Linear(w, w)
        self.l3 = nn.Linear(w, w)
        self.l4 = nn.Linear(w, d)

    def __call__(self, x, t):
        h = nn.silu(self.l1(mx.concatenate([x, t[:, None]], axis=-1)))
        h = h + nn.silu(self.l2(h))
        h = h + nn.silu(self.l3(h))
        return self.l4(h)


def make(lr_sched):
    m = Net()
    o = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)
    return m, o


warm = 100
total = 500
sched = optim.join_schedules([optim.linear_schedule(0.0, 1.5e-3, warm), lambda s: 1.5e-3], [warm])


def loss_fn(m, x1, x0, t):
    xt = (1 - t[:, None]) * x0 + t[:, None] * x1
    return mx.mean(mx.sum((m(xt, t) - (x1 - x0)) ** 2, axis=-1))


def mmd(a, b, s=1.0):
    def k(p, q):
        return mx.exp(-mx.sum((p[:, None] - q[None]) ** 2, axis=-1) / (2 * s * s))
    return (mx.mean(k(a, a)) + mx.mean(k(b, b)) - 2 * mx.mean(k(a, b))).item()


def sample(m, n, k=24):
    x = mx.random.normal((n, 6))
    for i in range(k):
        x = x + m(x, mx.full((n,), i / k)) / k
    mx.eval(x)
    return x


def run(model, opt, ema, start, stop, log_every):
    vg = nn.value_and_grad(model, loss_fn)
    acc = 0.0
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, X.shape[0], size=256))
        x1 = X[idx]
        x0 = mx.random.normal(x1.shape)
        t = mx.random.uniform(shape=(256,))
        loss, g = vg(model, x1, x0, t)
        opt.update(model, g)
        ema = tree_map(lambda e, p: 0.98 * e + 0.02 * p, ema, model.parameters())
        mx.eval(model.parameters(), opt.state, ema)
        acc += loss.item()
        if (step + 1) % log_every == 0:
            print(f"step {step + 1:4d}  fm loss {acc / log_every:.4f}  lr {opt.learning_rate.item():.2e}")
            acc = 0.0
    return ema


ckdir = tempfile.mkdtemp()
mx.random.seed(3)
model, opt = make(sched)
mx.eval(model.parameters())
ema = tree_map(lambda p: p, model.parameters())
print("session 1")
ema = run(model, opt, ema, 0, 250, 25)
model.save_weights(os.path.join(ckdir, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "ema.safetensors"), dict(tree_flatten(ema)))
state = dict(tree_flatten(opt.state))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), state)
print(f"checkpoint written at step 250 ({len(state)} optimizer tensors)")
del model, opt, ema

print("session 2 (rebuilt from checkpoint, logs only at the end)")
model, opt = make(sched)
model.load_weights(os.path.join(ckdir, "weights.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
ema = tree_unflatten(list(mx.load(os.path.join(ckdir, "ema.safetensors")).items()))
print(f"resumed at optimizer step {opt.state['step'].item()}  lr {opt.learning_rate.item():.2e}")
ema = run(model, opt, ema, 250, total, 250)

ref = H[:800]
print(f"mmd floor (held-out vs held-out)   {mmd(H[800:1600], ref):.5f}")
print(f"mmd baseline (N(0,I) noise)        {mmd(mx.random.normal((800, 6)), ref):.5f}")
print(f"mmd raw weights, 24 Euler steps    {mmd(sample(model, 800), ref):.5f}")
model.update(ema)
s = sample(model, 800)
print(f"mmd EMA weights, 24 Euler steps    {mmd(s, ref):.5f}")
s_ms = np.array(s) * sd + mu
print("mean strike error per bell (ms), model :", np.round(s_ms.mean(0), 1))
print("mean strike error per bell (ms), tower :", np.round(held.mean(0), 1))
shutil.rmtree(ckdir)
