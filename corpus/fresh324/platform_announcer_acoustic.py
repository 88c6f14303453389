# Platform-announcement voice: a tiny non-autoregressive acoustic model
# (phonemes -> durations -> 16-band mel frames), trained in two stages.
# Stage 1 fits the mel path with the duration head held still; stage 2
# releases the duration head under a fresh warm-up.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)

N_PH = 12          # phoneme ids 1..12, 0 = pad
N_MEL = 16
MAX_PH = 12
NOISE_SD = 0.10
VOWELS = {1, 2, 3, 4}

templates = rng.normal(0.0, 1.0, size=(N_PH + 1, N_MEL)).astype(np.float32)
templates[0] = 0.0
base_dur = rng.integers(2, 6, size=N_PH + 1)


def utterance():
    n = int(rng.integers(6, MAX_PH + 1))
    ph = rng.integers(1, N_PH + 1, size=n)
    dur = []
    for i, p in enumerate(ph):
        d = base_dur[p] + (2 if p in VOWELS else 0)
        if i + 1 < n and ph[i + 1] in VOWELS:
            d += 1
        if i == n - 1:
            d += 2          # phrase-final lengthening
        dur.append(int(d))
    frames = []
    for i, (p, d) in enumerate(zip(ph, dur)):
        nxt = templates[ph[i + 1]] if i + 1 < n else templates[p]
        for k in range(d):
            a = (k + 0.5) / d
            w = max(0.0, a - 0.6) / 0.4 * 0.5   # glide toward next phoneme
            frames.append((1 - w) * templates[p] + w * nxt)
    mel = np.stack(frames) + rng.normal(0, NOISE_SD, size=(len(frames), N_MEL))
    return ph, np.array(dur), mel.astype(np.float32)


def make_set(n):
    return [utterance() for _ in range(n)]


def collate(items):
    B = len(items)
    T = max(len(m) for _, _, m in items)
    ph = np.zeros((B, MAX_PH), np.int32)
    dur = np.ones((B, MAX_PH), np.float32)
    pmask = np.zeros((B, MAX_PH), np.float32)
    mel = np.zeros((B, T, N_MEL), np.float32)
    fmask = np.zeros((B, T), np.float32)
    idx = np.zeros((B, T), np.int32)
    frac = np.zeros((B, T, 1), np.float32)
    for b, (p, d, m) in enumerate(items):
        n = len(p)
        ph[b, :n] = p
        dur[b, :n] = d
        pmask[b, :n] = 1
        mel[b, : len(m)] = m
        fmask[b, : len(m)] = 1
        t = 0
        for i, di in enumerate(d):
            for k in range(di):
                idx[b, t] = i
                frac[b, t, 0] = (k + 0.5) / di
                t += 1
    return {k: mx.array(v) for k, v in dict(ph=ph, dur=dur, pmask=pmask, mel=mel,
                                             fmask=fmask, idx=idx, frac=frac).items()}


class ConvBlock(nn.Module):
    """Residual 1-D convolution over time, written as shifted copies + Linear."""

    def __init__(self, dim, k):
        super().__init__()
        self.k = k
        self.proj = nn.Linear(k * dim, dim)
        self.norm = nn.LayerNorm(dim)

    def __call__(self, x):
        T = x.shape[1]
        p = self.k // 2
        xp = mx.pad(x, [(0, 0), (p, p), (0, 0)])
        win = mx.concatenate([xp[:, i : i + T] for i in range(self.k)], axis=-1)
        return x + nn.gelu(self.norm(self.proj(win)))


class DurationHead(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.block = ConvBlock(dim, 3)
        self.out = nn.Linear(dim, 1)

    def __call__(self, h):
        return self.out(self.block(h)).squeeze(-1)   # log-duration


class Announcer(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.embed = nn.Embedding(N_PH + 1, dim)
        self.enc = [ConvBlock(dim, 3)]
        self.duration = DurationHead(dim)
        self.pos = nn.Linear(1, dim)
        self.dec = [ConvBlock(dim, 5)]
        self.to_mel = nn.Linear(dim, N_MEL)

    def encode(self, ph):
        h = self.embed(ph)
        for blk in self.enc:
            h = blk(h)
        return h

    def __call__(self, ph, idx, frac):
        h = self.encode(ph)
        logd = self.duration(mx.stop_gradient(h))
        up = mx.take_along_axis(h, idx[..., None], axis=1)   # length regulator
        x = up + self.pos(frac)
        for blk in self.dec:
            x = blk(x)
        return self.to_mel(x), logd


def losses(model, batch):
    mel_hat, logd = model(batch["ph"], batch["idx"], batch["frac"])
    fm = batch["fmask"][..., None]
    mel_l1 = (mx.abs(mel_hat - batch["mel"]) * fm).sum() / (fm.sum() * N_MEL)
    pm = batch["pmask"]
    dur_mse = (((logd - mx.log(batch["dur"])) ** 2) * pm).sum() / pm.sum()
    return mel_l1, dur_mse


def total_loss(model, batch):
    mel_l1, dur_mse = losses(model, batch)
    return mel_l1 + dur_mse, (mel_l1, dur_mse)


def evaluate(model, batch):
    mel_l1, dur_mse = losses(model, batch)
    _, logd = model(batch["ph"], batch["idx"], batch["frac"])
    pred = mx.maximum(mx.round(mx.exp(logd)), 1)
    pm = batch["pmask"]
    mae = (mx.abs(pred - batch["dur"]) * pm).sum() / pm.sum()
    return mel_l1.item(), dur_mse.item(), mae.item()


train = make_set(1200)
val = collate(make_set(200))

# reference numbers printed next to the model's
vm = np.array(val["mel"]); vf = np.array(val["fmask"]); vph = np.array(val["ph"]); vidx = np.array(val["idx"])
tmpl_only = templates[np.take_along_axis(vph, vidx, axis=1)]
tmpl_l1 = float((np.abs(tmpl_only - vm) * vf[..., None]).sum() / (vf.sum() * N_MEL))
vd = np.array(val["dur"]); vpm = np.array(val["pmask"])
mean_d = float((vd * vpm).sum() / vpm.sum())
meandur_mae = float((np.abs(np.round(mean_d) - vd) * vpm).sum() / vpm.sum())
noise_floor = NOISE_SD * math.sqrt(2 / math.pi)
print(f"reference: mel L1 noise floor {noise_floor:.4f} | template-only mel L1 {tmpl_l1:.4f} "
      f"| mean-duration MAE {meandur_mae:.3f} frames")

model = Announcer()
mx.eval(model.parameters())

BATCH = 24
STAGES = [
    # name, steps, peak lr, warm-up steps, duration head trainable
    ("mel path", 260, 3e-3, 40, False),
    ("joint", 160, 2e-3, 30, True),
]


def noam(peak, warm):
    def sched(step):
        s = step.astype(mx.float32)
        return peak * mx.minimum(s / warm, mx.rsqrt(mx.maximum(s, 1.0) / warm))
    return sched


step_global = 0
t0 = time.time()
for name, steps, peak, warm, dur_on in STAGES:
    model.unfreeze()
    if not dur_on:
        model.duration.freeze()
    opt = optim.Adam(learning_rate=noam(peak, warm))
    grad_fn = nn.value_and_grad(model, total_loss)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"== stage '{name}': {steps} steps, trainable params {n_train}, lr warm-up from 0 over {warm} steps")
    for s in range(steps):
        pick = rng.integers(0, len(train), size=BATCH)
        batch = collate([train[i] for i in pick])
        (loss, (mel_l1, dur_mse)), grads = grad_fn(model, batch)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if s % 40 == 0 or s == steps - 1:
            lr = opt.learning_rate.item()
            print(f"step {step_global:4d} [{name}] lr {lr:.2e} loss {loss.item():.4f} "
                  f"mel_l1 {mel_l1.item():.4f} dur_mse {dur_mse.item():.4f}")
        step_global += 1
    v_l1, v_dmse, v_mae = evaluate(model, val)
    print(f"-- val after '{name}': mel L1 {v_l1:.4f} (floor {noise_floor:.4f}, template {tmpl_l1:.4f}) "
          f"dur_mse {v_dmse:.4f} dur MAE {v_mae:.3f} frames (mean-duration {meandur_mae:.3f})")

print(f"done in {time.time() - t0:.1f}s")
