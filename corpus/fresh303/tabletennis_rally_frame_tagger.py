"""Table-tennis rally audio tagger: label each 32 ms frame of a synthetic courtside
recording as background, racket hit or table bounce (for automatic shot counting).

Log-mel features are computed here from synthetic 1 kHz courtside-microphone audio
(numpy framing + rfft + triangular mel filterbank); a small dilated Conv1d
network (channels-last, as MLX expects) tags the frames.

Schedule: linear warm-up that starts at exactly lr = 0, then two cosine cycles
(a warm restart at step 160). Validation is only run at the end of each cycle.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SR = 1000
CLIP_S = 3.0
N_FFT = 64
HOP = 32
N_MELS = 16


def mel_filterbank(n_fft, sr, n_mels, fmin=20.0, fmax=None):
    fmax = fmax or sr / 2
    def hz2mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)
    def mel2hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)
    mels = np.linspace(hz2mel(fmin), hz2mel(fmax), n_mels + 2)
    hz = mel2hz(mels)
    bins = np.fft.rfftfreq(n_fft, 1.0 / sr)
    fb = np.zeros((n_mels, bins.size), dtype=np.float32)
    for m in range(n_mels):
        lo, c, hi = hz[m], hz[m + 1], hz[m + 2]
        up = (bins - lo) / max(c - lo, 1e-6)
        down = (hi - bins) / max(hi - c, 1e-6)
        fb[m] = np.clip(np.minimum(up, down), 0.0, None)
    return fb


def synth_clip(rng):
    n = int(SR * CLIP_S)
    t = np.arange(n) / SR
    x = 0.05 * rng.standard_normal(n)                     # hall noise
    x += 0.08 * np.sin(2 * np.pi * rng.uniform(0.2, 0.4) * t)   # ventilation rumble
    lab = np.zeros(n, dtype=np.int32)
    shots_per_min = rng.uniform(55, 110)
    period = 60.0 / shots_per_min
    flight = 0.3 * period + rng.uniform(-0.02, 0.02)     # racket -> table travel time
    start = rng.uniform(0.0, period)
    squeaky = rng.random() < 0.3                          # shoe squeaks on the floor
    beat = start
    while beat < CLIP_S:
        for kind, onset, dur, f0 in ((1, beat, 0.10, rng.uniform(35, 55)),
                                     (2, beat + flight, 0.07, rng.uniform(60, 95))):
            i0 = int(onset * SR)
            i1 = min(n, i0 + int(dur * SR))
            if i0 >= n:
                continue
            tt = np.arange(i1 - i0) / SR
            amp = rng.uniform(0.6, 1.2) * (1.0 if kind == 1 else 0.75)
            burst = amp * np.exp(-tt / (dur / 3)) * np.sin(2 * np.pi * f0 * tt + rng.uniform(0, 6.28))
            x[i0:i1] += burst
            lab[i0:i1] = kind
        if squeaky:                                       # squeak/scuffle between hit and bounce
            i0 = int((beat + 0.11) * SR)
            i1 = min(n, int((beat + flight - 0.01) * SR))
            if i0 < n and i1 > i0:
                x[i0:i1] += 0.12 * rng.standard_normal(i1 - i0)
        beat += period * rng.uniform(0.97, 1.03)
    return x.astype(np.float32), lab


def featurize(x, lab, fb, window):
    n_frames = 1 + (x.size - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    frames = x[idx] * window
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2
    logmel = np.log(power @ fb.T + 1e-6)
    # a frame takes the label at its centre sample
    flab = lab[idx[:, N_FFT // 2]]
    return logmel.astype(np.float32), flab


def make_set(n, rng, fb, window):
    feats, labs = [], []
    for _ in range(n):
        x, lab = synth_clip(rng)
        f, l = featurize(x, lab, fb, window)
        feats.append(f)
        labs.append(l)
    return np.stack(feats), np.stack(labs)


class FrameTagger(nn.Module):
    def __init__(self, n_in, hidden, n_cls):
        super().__init__()
        self.c1 = nn.Conv1d(n_in, hidden, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(hidden, hidden, kernel_size=5, padding=4, dilation=2)
        self.c3 = nn.Conv1d(hidden, hidden, kernel_size=3, padding=4, dilation=4)
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, n_cls)

    def __call__(self, x):                 # x: (N, L, C)
        h = nn.relu(self.c1(x))
        h = h + nn.relu(self.c2(h))
        h = h + nn.relu(self.c3(h))
        return self.head(self.norm(h))


def loss_fn(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def event_f1(pred, true, cls):
    tp = np.sum((pred == cls) & (true == cls))
    fp = np.sum((pred == cls) & (true != cls))
    fn = np.sum((pred != cls) & (true == cls))
    return 2 * tp / max(2 * tp + fp + fn, 1)


def evaluate(model, xv, yv):
    logits = model(mx.array(xv))
    loss = nn.losses.cross_entropy(logits, mx.array(yv), reduction="mean").item()
    pred = np.array(mx.argmax(logits, axis=-1))
    acc = float(np.mean(pred == yv))
    return loss, acc, event_f1(pred, yv, 1), event_f1(pred, yv, 2)


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    fb = mel_filterbank(N_FFT, SR, N_MELS)
    window = np.hanning(N_FFT).astype(np.float32)
    xtr, ytr = make_set(1200, rng, fb, window)
    xva, yva = make_set(300, rng, fb, window)
    mu = xtr.mean(axis=(0, 1), keepdims=True)
    sd = xtr.std(axis=(0, 1), keepdims=True) + 1e-5
    xtr = (xtr - mu) / sd
    xva = (xva - mu) / sd
    frac = np.bincount(ytr.ravel(), minlength=3) / ytr.size
    print(f"clips train={len(xtr)} val={len(xva)} frames/clip={xtr.shape[1]} mels={N_MELS}")
    print(f"frame share: background {frac[0]:.3f}  hit {frac[1]:.3f}  bounce {frac[2]:.3f}")
    base_acc = float(np.mean(yva == 0))
    print(f"baseline (always 'background'): val frame acc {base_acc:.3f}, hit F1 0.000, bounce F1 0.000")

    model = FrameTagger(N_MELS, 24, 3)
    warm, cyc1, cyc2 = 40, 120, 120
    peak = 3e-3
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.cosine_decay(peak, cyc1, 1e-5),
         optim.cosine_decay(peak, cyc2, 1e-5)],
        [warm, warm + cyc1])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, loss_fn)
    total = warm + cyc1 + cyc2
    bs = 24
    ends = {warm + cyc1, total}
    step = 0
    running = []
    while step < total:
        perm = rng.permutation(len(xtr))
        for i in range(0, len(perm) - bs + 1, bs):
            if step >= total:
                break
            b = perm[i:i + bs]
            lr_now = opt.learning_rate.item()
            loss, grads = step_fn(model, mx.array(xtr[b]), mx.array(ytr[b]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            running.append(loss.item())
            step += 1
            if step == 1 or step % 20 == 0:
                print(f"step {step:4d}  lr {lr_now:.2e}  train_ce {np.mean(running):.4f}")
                running = []
            if step in ends:
                vl, va, f1a, f1b = evaluate(model, xva, yva)
                tag = "end of cycle 1 (restart next)" if step == warm + cyc1 else "end of cycle 2"
                print(f"[val] step {step} {tag}: ce {vl:.4f}  frame acc {va:.3f} "
                      f"(baseline {base_acc:.3f})  hit F1 {f1a:.3f}  bounce F1 {f1b:.3f}")
    vl, va, f1a, f1b = evaluate(model, xva, yva)
    print(f"final: val ce {vl:.4f}  frame acc {va:.3f} vs baseline {base_acc:.3f}  "
          f"hit F1 {f1a:.3f}  bounce F1 {f1b:.3f}  time {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
