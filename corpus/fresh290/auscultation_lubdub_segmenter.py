"""Heart-sound (phonocardiogram) frame segmentation: gap / S1 / S2.

Synthetic 1 kHz PCG clips of varying length (2.0-3.2 s) padded to 3.2 s.
The log band-energy front end lives inside the model (framing, Hann,
mx.fft.rfft power, triangular band filterbank, masked per-clip mean removal).
A residual Conv1d stack labels every 32 ms frame; the loss is a cross entropy
averaged over valid (non-padded) frames only.

Schedule: linear warmup from exactly 0 then cosine decay (AdamW).
The run checkpoints after epoch 4, builds a fresh model + optimizer, restores
both from disk and carries on, so the second half is a resumed run.
"""

import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

FS = 1000
MAX_LEN = 3200
N_FFT = 64
HOP = 32
N_FRAMES = 1 + (MAX_LEN - N_FFT) // HOP
N_BANDS = 8
CLASSES = ["gap", "S1", "S2"]

rng = np.random.default_rng(7)
mx.random.seed(7)


def burst(n, f0, rng):
    t = np.arange(n) / FS
    env = np.sin(np.pi * np.arange(n) / n) ** 2
    f = f0 * (1.0 + 0.15 * rng.standard_normal())
    return env * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))


def make_clip(rng):
    length = int(rng.integers(2000, MAX_LEN + 1))
    x = np.zeros(MAX_LEN, np.float32)
    lab = np.zeros(MAX_LEN, np.int32)
    bpm = rng.uniform(58, 115)
    period = 60.0 / bpm
    systole = 0.28 + 0.05 * rng.standard_normal()
    murmur = rng.random() < 0.3
    t0 = rng.uniform(0.0, period)
    t = t0
    while t < length / FS:
        s1 = int(t * FS)
        n1 = int(rng.integers(80, 120))
        s2 = int((t + systole) * FS)
        n2 = int(rng.integers(60, 95))
        if s1 + n1 < length:
            x[s1:s1 + n1] += rng.uniform(0.8, 1.3) * burst(n1, 45.0, rng)
            lab[s1:s1 + n1] = 1
        if murmur and s1 + n1 < s2:
            seg = s2 - (s1 + n1)
            if s1 + n1 + seg < length:
                x[s1 + n1:s2] += 0.25 * rng.standard_normal(seg) * np.hanning(seg)
        if s2 + n2 < length:
            x[s2:s2 + n2] += rng.uniform(0.6, 1.1) * burst(n2, 110.0, rng)
            lab[s2:s2 + n2] = 2
        t += period * (1.0 + 0.03 * rng.standard_normal())
    breath = 0.15 * np.sin(2 * np.pi * rng.uniform(0.2, 0.4) * np.arange(MAX_LEN) / FS)
    x[:length] += breath[:length] + 0.08 * rng.standard_normal(length)
    x[length:] = 0.0
    gain = rng.uniform(0.5, 2.0)
    x *= gain
    # frame labels: majority label of the frame's central hop
    fl = np.zeros(N_FRAMES, np.int32)
    fm = np.zeros(N_FRAMES, np.float32)
    for i in range(N_FRAMES):
        a = i * HOP + (N_FFT - HOP) // 2
        fl[i] = np.bincount(lab[a:a + HOP], minlength=3).argmax()
        fm[i] = 1.0 if i * HOP + N_FFT <= length else 0.0
    return x, fl, fm


def make_set(n, rng):
    xs, ls, ms = zip(*(make_clip(rng) for _ in range(n)))
    return mx.array(np.stack(xs)), mx.array(np.stack(ls)), mx.array(np.stack(ms))


def band_filterbank():
    n_bins = N_FFT // 2 + 1
    edges = np.linspace(0, n_bins - 1, N_BANDS + 2)
    fb = np.zeros((n_bins, N_BANDS), np.float32)
    k = np.arange(n_bins)
    for b in range(N_BANDS):
        lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
        up = (k - lo) / max(mid - lo, 1e-6)
        down = (hi - k) / max(hi - mid, 1e-6)
        fb[:, b] = np.clip(np.minimum(up, down), 0, None)
    return mx.array(fb)


class Segmenter(nn.Module):
    def __init__(self, width=24):
        super().__init__()
        idx = np.arange(N_FRAMES)[:, None] * HOP + np.arange(N_FFT)[None, :]
        self._idx = mx.array(idx.reshape(-1).astype(np.int32))
        self._win = mx.array(np.hanning(N_FFT).astype(np.float32))
        self._fb = band_filterbank()
        self.conv1 = nn.Conv1d(N_BANDS, width, kernel_size=5, padding=2)
        self.conv2 = nn.Conv1d(width, width, kernel_size=5, padding=2)
        self.conv3 = nn.Conv1d(width, width, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Conv1d(width, len(CLASSES), kernel_size=1)

    def features(self, wave, mask):
        b = wave.shape[0]
        frames = mx.take(wave, self._idx, axis=1).reshape(b, N_FRAMES, N_FFT)
        power = mx.abs(mx.fft.rfft(frames * self._win)) ** 2
        logb = mx.log(power @ self._fb + 1e-4)
        m = mask[..., None]
        mean = (logb * m).sum(axis=1, keepdims=True) / m.sum(axis=1, keepdims=True)
        return (logb - mean) * m

    def __call__(self, wave, mask):
        h = self.features(wave, mask)
        h = nn.silu(self.conv1(h))
        h = h + nn.silu(self.conv2(h))
        h = h + nn.silu(self.conv3(h))
        return self.head(self.norm(h))


def masked_ce(model, wave, labels, mask):
    logits = model(wave, mask)
    ce = nn.losses.cross_entropy(logits, labels, reduction="none")
    return (ce * mask).sum() / mask.sum()


def evaluate(model, wave, labels, mask):
    pred = mx.argmax(model(wave, mask), axis=-1)
    m = mask > 0
    acc = ((pred == labels) & m).sum() / m.sum()
    f1 = []
    for c in (1, 2):
        tp = ((pred == c) & (labels == c) & m).sum()
        fp = ((pred == c) & (labels != c) & m).sum()
        fn = ((pred != c) & (labels == c) & m).sum()
        f1.append((2 * tp / mx.maximum(2 * tp + fp + fn, 1)).item())
    return acc.item(), f1[0], f1[1]


def baselines(wave, labels, mask, probe):
    m = mask > 0
    majority = ((labels == 0) & m).sum().item() / m.sum().item()
    # energy threshold: loud frames called S1 (the more common burst)
    feats = probe.features(wave, mask)
    loud = feats.mean(axis=-1) > 0.5
    guess = mx.where(loud, 1, 0)
    energy = ((guess == labels) & m).sum().item() / m.sum().item()
    return majority, energy


EPOCHS = 8
BATCH = 32
PEAK_LR = 3e-3
WARM = 30

t_start = time.time()
train_w, train_l, train_m = make_set(800, rng)
val_w, val_l, val_m = make_set(200, rng)
steps_per_epoch = train_w.shape[0] // BATCH
total_steps = EPOCHS * steps_per_epoch
print(f"clips: train {train_w.shape[0]}, val {val_w.shape[0]}, frames/clip {N_FRAMES}, "
      f"valid frame share {train_m.mean().item():.3f}")
print("frame label share (train, valid frames):",
      " ".join(f"{c}={((train_l == i) * train_m).sum().item() / train_m.sum().item():.3f}"
               for i, c in enumerate(CLASSES)))


def build():
    model = Segmenter()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARM),
         optim.cosine_decay(PEAK_LR, total_steps - WARM, 1e-5)],
        [WARM])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    return model, opt


model, opt = build()
mx.eval(model.parameters())
maj, energy = baselines(val_w, val_l, val_m, model)
print(f"val baselines: majority(gap) acc {maj:.3f} | energy-threshold acc {energy:.3f}")


def make_step(model, opt):
    loss_and_grad = nn.value_and_grad(model, masked_ce)

    def step(w, l, m):
        loss, grads = loss_and_grad(model, w, l, m)
        grads, gnorm = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        return loss, gnorm
    return step


step = make_step(model, opt)
ckpt_dir = tempfile.mkdtemp("_pcg_ckpt")
global_step = 0
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(np.random.default_rng(100 + epoch).permutation(train_w.shape[0]))
    tot, n = 0.0, 0
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        lr_now = opt.learning_rate.item()
        loss, gnorm = step(train_w[idx], train_l[idx], train_m[idx])
        mx.eval(model.parameters(), opt.state, loss)
        if global_step == 0:
            print(f"step 0 | lr {lr_now:.2e} | ce {loss.item():.4f} | grad_norm {gnorm.item():.3f}")
        tot += loss.item()
        n += 1
        global_step += 1
    acc, f1_s1, f1_s2 = evaluate(model, val_w, val_l, val_m)
    print(f"epoch {epoch} | step {global_step} | train_ce {tot / n:.4f} | val_acc {acc:.3f} | "
          f"S1_f1 {f1_s1:.3f} | S2_f1 {f1_s2:.3f} | lr {opt.learning_rate.item():.2e}")

    if epoch == 4:
        wpath = os.path.join(ckpt_dir, "model.safetensors")
        opath = os.path.join(ckpt_dir, "optim.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
        print(f"checkpoint written after epoch {epoch} ({global_step} steps); restarting process state")
        del model, opt, step
        model, opt = build()
        model.load_weights(wpath)
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        mx.eval(model.parameters())
        step = make_step(model, opt)
        acc_r, _, _ = evaluate(model, val_w, val_l, val_m)
        print(f"resumed: optimizer step {int(opt.state['step'].item())} | val_acc {acc_r:.3f}")

acc, f1_s1, f1_s2 = evaluate(model, val_w, val_l, val_m)
print(f"final val frame acc {acc:.3f} (majority {maj:.3f}, energy {energy:.3f}) | "
      f"S1_f1 {f1_s1:.3f} | S2_f1 {f1_s2:.3f} | {time.time() - t_start:.1f}s")
