# Residual VQ autoencoder for hand-bell partial spectra.
# Each bell is summarised by 20 log-amplitudes of its partials (hum, prime,
# tierce, quint, nominal, ...).  Bells come from 6 foundries with their own
# tuning "profile"; a 2-stage residual vector quantiser compresses each bell
# to two code indices.  The codebooks are NOT trained by gradient: they are
# frozen and follow an exponential moving average of the vectors assigned to
# them (VQ-VAE v2 style), with dead codes re-seeded from the batch.
import math
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
N_PART, LATENT, CODES, STAGES = 20, 6, 12, 2
N_BELLS, BATCH, STEPS = 3072, 128, 360

# ---------------- synthetic bells -----------------
k_prof, k_pick, k_size, k_noise = mx.random.split(mx.random.key(11), 4)
profiles = mx.random.normal((6, N_PART), key=k_prof) * 0.8
foundry = mx.random.randint(0, 6, (N_BELLS,), key=k_pick)
size = mx.random.uniform(-1.0, 1.0, (N_BELLS, 1), key=k_size)
tilt = mx.linspace(-1.0, 1.0, N_PART)[None, :]
spectra = profiles[foundry] + 0.6 * size * tilt + 0.05 * mx.random.normal((N_BELLS, N_PART), key=k_noise)
spectra = (spectra - spectra.mean(axis=0)) / (spectra.std(axis=0) + 1e-6)
train_x, val_x = spectra[:2560], spectra[2560:]


class Quantiser(nn.Module):
    def __init__(self):
        super().__init__()
        self.book = mx.random.normal((STAGES, CODES, LATENT)) * 0.1

    def assign(self, z):
        resid, codes, q_total = z, [], mx.zeros_like(z)
        for s in range(STAGES):
            cb = self.book[s]
            d = (resid ** 2).sum(-1, keepdims=True) - 2 * resid @ cb.T + (cb ** 2).sum(-1)[None]
            idx = mx.argmin(d, axis=-1)
            q = cb[idx]
            codes.append(idx)
            q_total = q_total + q
            resid = resid - q
        return q_total, codes


class BellRVQ(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(N_PART, 48), nn.SiLU(), nn.Linear(48, LATENT))
        self.dec = nn.Sequential(nn.Linear(LATENT, 48), nn.SiLU(), nn.Linear(48, N_PART))
        self.vq = Quantiser()

    def __call__(self, x):
        z = self.enc(x)
        q, codes = self.vq.assign(mx.stop_gradient(z))
        q = mx.stop_gradient(q)
        z_st = z + mx.stop_gradient(q - z)          # straight-through
        return self.dec(z_st), z, q, codes


model = BellRVQ()
model.vq.freeze()                                    # codebook moves by EMA only
mx.eval(model.parameters())

BETA = 0.25


def loss_fn(m, x):
    xh, z, q, _ = m(x)
    recon = mx.mean((xh - x) ** 2)
    commit = mx.mean((z - q) ** 2)
    return recon + BETA * commit, (recon, commit)


opt = optim.Adam(learning_rate=2e-3)
state = [model.state, opt.state]


def _step(x):
    (loss, (recon, commit)), grads = nn.value_and_grad(model, loss_fn)(model, x)
    grads, gnorm = optim.clip_grad_norm(grads, 5.0)
    opt.update(model, grads)
    return loss, recon, commit, gnorm


train_step = mx.compile(_step, inputs=state, outputs=state)

DECAY = 0.9
ema_count = mx.ones((STAGES, CODES))
ema_sum = mx.array(model.vq.book)


def ema_update(x, step):
    """Move each stage's codebook toward the mean of the residuals assigned to it."""
    global ema_count, ema_sum
    z = model.enc(x)
    resid = z
    books, counts, sums = [], [], []
    restarts = 0
    for s in range(STAGES):
        cb = model.vq.book[s]
        d = (resid ** 2).sum(-1, keepdims=True) - 2 * resid @ cb.T + (cb ** 2).sum(-1)[None]
        idx = mx.argmin(d, axis=-1)
        onehot = (idx[:, None] == mx.arange(CODES)[None]).astype(mx.float32)
        cnt = DECAY * ema_count[s] + (1 - DECAY) * onehot.sum(0)
        sm = DECAY * ema_sum[s] + (1 - DECAY) * (onehot.T @ resid)
        new_cb = sm / (cnt[:, None] + 1e-5)
        dead = cnt < 0.05
        if step % 40 == 0:
            n_dead = int(dead.sum().item())
            if n_dead:
                pick = mx.random.randint(0, resid.shape[0], (CODES,))
                new_cb = mx.where(dead[:, None], resid[pick], new_cb)
                cnt = mx.where(dead, 1.0, cnt)
                sm = mx.where(dead[:, None], resid[pick], sm)
                restarts += n_dead
        books.append(new_cb)
        counts.append(cnt)
        sums.append(sm)
        resid = resid - new_cb[idx]
    model.vq.book = mx.stop_gradient(mx.stack(books))
    ema_count = mx.stack(counts)
    ema_sum = mx.stack(sums)
    return restarts


def perplexity(codes):
    out = []
    for idx in codes:
        p = (idx[:, None] == mx.arange(CODES)[None]).astype(mx.float32).mean(0)
        out.append(math.exp(-float((p * mx.log(p + 1e-10)).sum().item())))
    return out


def bar(i, n, width=20):
    f = int(width * i / n)
    return "#" * f + " " * (width - f)


t0 = time.time()
perm = mx.random.permutation(train_x.shape[0])
cursor, total_restarts = 0, 0
baseline_mse = float(mx.mean(val_x ** 2).item())   # predict-the-mean reference
for step in range(1, STEPS + 1):
    if cursor + BATCH > train_x.shape[0]:
        perm, cursor = mx.random.permutation(train_x.shape[0]), 0
    xb = train_x[perm[cursor:cursor + BATCH]]
    cursor += BATCH
    loss, recon, commit, gnorm = train_step(xb)
    mx.eval(state, loss, recon, commit, gnorm)
    total_restarts += ema_update(xb, step)
    mx.eval(model.vq.book, ema_count, ema_sum)
    if step % 30 == 0 or step == 1:
        xh, _, _, codes = model(val_x)
        vmse = float(mx.mean((xh - val_x) ** 2).item())
        ppl = perplexity(codes)
        el = time.time() - t0
        sys.stdout.write(
            f"bells {100 * step // STEPS:3d}%|{bar(step, STEPS)}| {step}/{STEPS} "
            f"[{el:4.1f}s, recon={recon.item():.4f} commit={commit.item():.4f} "
            f"val={vmse:.4f} (mean-pred {baseline_mse:.3f}) ppl={ppl[0]:.1f}+{ppl[1]:.1f}/{CODES} "
            f"restarts={total_restarts} |g|={gnorm.item():.2f}]\n"
        )
    if step % 120 == 0:
        drift = float(mx.sqrt(((model.vq.book - ema_sum / (ema_count[..., None] + 1e-5)) ** 2).sum()).item())
        print(f"  audit step {step}: codebook-vs-EMA |diff|={drift:.2e}  "
              f"book norm={float(mx.sqrt((model.vq.book ** 2).sum()).item()):.3f}")

xh, _, _, codes = model(val_x)
final = float(mx.mean((xh - val_x) ** 2).item())
print(f"done: val recon {final:.4f} vs mean-pred {baseline_mse:.4f} "
      f"({100 * (1 - final / baseline_mse):.1f}% of variance explained), "
      f"codes used {len(set(codes[0].tolist()))}/{CODES} + {len(set(codes[1].tolist()))}/{CODES}")
