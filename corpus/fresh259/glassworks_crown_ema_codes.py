"""Glassworks furnace log: compress 24-reading crown-temperature windows into
4 discrete codes each (VQ autoencoder, codebook kept by exponential moving
averages instead of by the optimiser, with periodic re-seeding of idle codes)."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(11)
mx.random.seed(11)
T = 24


def make_windows(n):
    t = np.linspace(0.0, 1.0, T)
    kind = rng.integers(0, 6, size=n)
    base = rng.normal(0.0, 0.4, size=(n, 1))
    x = np.zeros((n, T))
    for k in range(6):
        m = kind == k
        if k == 0:   # steady hold
            x[m] = 0.0
        elif k == 1:  # reversal dip every half window
            x[m] = -1.2 * (np.sin(2 * np.pi * 2 * t) > 0.7)
        elif k == 2:  # ramp up after batch charge
            x[m] = 2.0 * t - 1.0
        elif k == 3:  # cool-down
            x[m] = 1.0 - 2.0 * t ** 2
        elif k == 4:  # burner trip and recovery
            x[m] = -1.5 * np.exp(-((t - 0.4) ** 2) / 0.01)
        else:        # oscillating damper
            x[m] = 0.8 * np.sin(2 * np.pi * 3 * t)
    x = x + base + rng.normal(0.0, 0.08, size=(n, T))
    return x.astype(np.float32)


train = make_windows(6000)
valid = make_windows(1000)
mu, sd = train.mean(0), train.std(0) + 1e-6
train = (train - mu) / sd
valid = (valid - mu) / sd
train_mx, valid_mx = mx.array(train), mx.array(valid)

SLOTS, DIM, K = 4, 6, 32


class Codebook(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = mx.random.normal((K, DIM)) * 0.5
        self.count = mx.ones((K,))
        self.total = self.embed * 1.0

    def nearest(self, z):
        d = (z ** 2).sum(-1, keepdims=True) - 2 * z @ self.embed.T + (self.embed ** 2).sum(-1)
        return mx.argmin(d, axis=-1)


class CrownVQ(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, 96), nn.GELU(), nn.Linear(96, SLOTS * DIM))
        self.dec = nn.Sequential(nn.Linear(SLOTS * DIM, 96), nn.GELU(), nn.Linear(96, T))
        self.book = Codebook()

    def encode(self, x):
        return self.enc(x).reshape(-1, SLOTS, DIM)

    def __call__(self, x):
        ze = self.encode(x)
        idx = mx.stop_gradient(self.book.nearest(ze))
        q = mx.stop_gradient(self.book.embed[idx])
        zq = ze + mx.stop_gradient(q - ze)
        out = self.dec(zq.reshape(-1, SLOTS * DIM))
        return out, ze, q, idx


model = CrownVQ()
model.book.freeze()
mx.eval(model.parameters())

BETA, DECAY, STEPS, BATCH = 0.25, 0.95, 1500, 128
warm = optim.linear_schedule(0.0, 2e-3, 150)
cos = optim.cosine_decay(2e-3, STEPS - 150, 1e-4)
opt = optim.AdamW(learning_rate=optim.join_schedules([warm, cos], [150]), weight_decay=1e-4)


def loss_fn(m, x):
    out, ze, q, idx = m(x)
    recon = mx.mean((out - x) ** 2)
    commit = mx.mean((ze - q) ** 2)
    return recon + BETA * commit, (recon, commit, ze, idx)


step_fn = nn.value_and_grad(model, loss_fn)


def ema_update(ze, idx):
    b = model.book
    flat = ze.reshape(-1, DIM)
    onehot = (idx.reshape(-1)[:, None] == mx.arange(K)[None, :]).astype(mx.float32)
    b.count = DECAY * b.count + (1 - DECAY) * onehot.sum(0)
    b.total = DECAY * b.total + (1 - DECAY) * (onehot.T @ flat)
    n = b.count.sum()
    smoothed = (b.count + 1e-5) / (n + K * 1e-5) * n
    b.embed = b.total / smoothed[:, None]


def reseed_idle(ze):
    b = model.book
    idle = np.array(b.count) < 0.05
    if idle.sum() == 0:
        return 0
    flat = np.array(ze.reshape(-1, DIM))
    pick = flat[rng.integers(0, flat.shape[0], size=int(idle.sum()))]
    emb, tot, cnt = np.array(b.embed), np.array(b.total), np.array(b.count)
    emb[idle] = pick
    tot[idle] = pick
    cnt[idle] = 1.0
    b.embed, b.total, b.count = mx.array(emb), mx.array(tot), mx.array(cnt)
    return int(idle.sum())


def perplexity(idx):
    h = np.bincount(np.array(idx).reshape(-1), minlength=K).astype(np.float64)
    p = h / h.sum()
    nz = p[p > 0]
    return float(np.exp(-(nz * np.log(nz)).sum())), int((h > 0).sum())


mean_baseline = float(mx.mean(valid_mx ** 2))
print(f"train {train.shape} valid {valid.shape} codebook {K}x{DIM} slots {SLOTS}")
print(f"baseline: predict-the-mean valid mse {mean_baseline:.4f}")
t0 = time.time()
for step in range(1, STEPS + 1):
    xb = train_mx[mx.array(rng.integers(0, train.shape[0], size=BATCH))]
    (loss, (recon, commit, ze, idx)), grads = step_fn(model, xb)
    opt.update(model, grads)
    ema_update(ze, idx)
    mx.eval(model.parameters(), model.book.embed, model.book.count, model.book.total, opt.state)
    if step % 300 == 0:
        n = reseed_idle(ze)
        print(f"  step {step}: re-seeded {n} idle codes")
    if step % 100 == 0 or step == 1:
        out, _, _, vidx = model(valid_mx)
        vmse = float(mx.mean((out - valid_mx) ** 2))
        ppl, used = perplexity(vidx)
        print(f"step {step:5d} lr {opt.learning_rate.item():.2e} loss {loss.item():.4f} "
              f"recon {recon.item():.4f} commit {commit.item():.4f} | valid mse {vmse:.4f} "
              f"perplexity {ppl:5.2f}/{K} used {used}")
print(f"done in {time.time() - t0:.1f}s")
out, _, _, vidx = model(valid_mx)
vmse = float(mx.mean((out - valid_mx) ** 2))
print(f"final valid mse {vmse:.4f} vs mean baseline {mean_baseline:.4f} "
      f"({100 * (1 - vmse / mean_baseline):.1f}% less error), codes used {perplexity(vidx)[1]}/{K}")
