"""Tiny mel-to-waveform vocoder on synthetic reed-organ notes.

Stage A trains on a plain waveform L1 term (phase is random in the data, so
this term has a floor), stage B adds a multi-resolution STFT loss
(spectral convergence + log magnitude).  Learning rate warms up linearly from
exactly 0, then follows a cosine decay.  Held-out spectral metrics are printed
beside two reference outputs (silence, and the average training clip).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SR = 8000
HOP = 32
N_FFT = 128
N_MELS = 20
FRAMES = 16
SEG = FRAMES * HOP  # 512 samples

rng = np.random.default_rng(7)
mx.random.seed(7)


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + f / 700.0)


def mel_to_hz(m):
    return 700.0 * (10 ** (m / 2595.0) - 1.0)


def mel_filterbank():
    bins = N_FFT // 2 + 1
    mels = np.linspace(hz_to_mel(40.0), hz_to_mel(SR / 2), N_MELS + 2)
    hz = mel_to_hz(mels)
    idx = hz / (SR / 2) * (bins - 1)
    fb = np.zeros((N_MELS, bins), dtype=np.float32)
    for m in range(N_MELS):
        lo, c, hi = idx[m], idx[m + 1], idx[m + 2]
        for k in range(bins):
            if lo <= k <= c and c > lo:
                fb[m, k] = (k - lo) / (c - lo)
            elif c < k <= hi and hi > c:
                fb[m, k] = (hi - k) / (hi - c)
    return fb


FB = mel_filterbank()
WIN_NP = np.hanning(N_FFT).astype(np.float32)


def render_note():
    t = np.arange(SEG) / SR
    f0 = rng.uniform(110.0, 420.0)
    n_h = rng.integers(2, 6)
    tilt = rng.uniform(0.35, 0.8)
    sig = np.zeros(SEG)
    for h in range(1, n_h + 1):
        if f0 * h >= SR / 2 - 200:
            break
        sig += (tilt ** (h - 1)) * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi))
    onset = rng.uniform(0.0, 0.3) * SEG
    env = np.clip((np.arange(SEG) - onset) / 60.0, 0.0, 1.0) * np.exp(-np.arange(SEG) / rng.uniform(400, 2000))
    sig = sig * env
    sig = 0.5 * sig / (np.abs(sig).max() + 1e-6)
    sig += 0.005 * rng.standard_normal(SEG)
    return sig.astype(np.float32)


def log_mel(sig):
    pad = np.pad(sig, (N_FFT // 2, N_FFT // 2 - HOP), mode="reflect")
    frames = np.stack([pad[i * HOP:i * HOP + N_FFT] * WIN_NP for i in range(FRAMES)])
    mag = np.abs(np.fft.rfft(frames, axis=-1))
    return np.log(np.maximum(mag @ FB.T, 1e-4)).astype(np.float32)


def make_set(n):
    wav = np.stack([render_note() for _ in range(n)])
    mel = np.stack([log_mel(w) for w in wav])
    return mx.array(mel), mx.array(wav)


def with_neighbours(h):
    """Stack each frame with its left/right neighbours (zero at the edges)."""
    z = mx.zeros_like(h[:, :1])
    left = mx.concatenate([z, h[:, :-1]], axis=1)
    right = mx.concatenate([h[:, 1:], z], axis=1)
    return mx.concatenate([left, h, right], axis=-1)


class Vocoder(nn.Module):
    """Frame-rate stack over 3-frame context windows; each frame then emits
    HOP waveform samples."""

    def __init__(self, width=64):
        super().__init__()
        self.pre = nn.Linear(3 * N_MELS, width)
        self.res = [nn.Linear(3 * width, width) for _ in range(2)]
        self.norm = nn.LayerNorm(width)
        self.emit = nn.Linear(width, HOP)

    def __call__(self, mel):
        h = nn.gelu(self.pre(with_neighbours(mel)))
        for lin in self.res:
            h = h + nn.gelu(lin(with_neighbours(h)))
        out = self.emit(self.norm(h))                    # (B, FRAMES, HOP)
        return mx.tanh(out.reshape(out.shape[0], FRAMES * HOP))


RESOLUTIONS = (64, 128, 256)
FRAME_IDX = {}
WINDOWS = {}
for n in RESOLUTIONS:
    hop = n // 4
    starts = np.arange(0, SEG - n + 1, hop)
    FRAME_IDX[n] = mx.array(starts[:, None] + np.arange(n)[None, :])
    WINDOWS[n] = mx.array(np.hanning(n).astype(np.float32))


def stft_mag(x, n):
    fr = x[:, FRAME_IDX[n]] * WINDOWS[n]
    spec = mx.fft.rfft(fr, axis=-1)
    return mx.sqrt(mx.real(spec) ** 2 + mx.imag(spec) ** 2 + 1e-7)


def spectral_terms(pred, target):
    sc, lm = 0.0, 0.0
    for n in RESOLUTIONS:
        s_t = stft_mag(target, n)
        s_p = stft_mag(pred, n)
        sc = sc + mx.sqrt(mx.sum((s_t - s_p) ** 2)) / mx.sqrt(mx.sum(s_t ** 2))
        lm = lm + mx.mean(mx.abs(mx.log(s_t) - mx.log(s_p)))
    k = len(RESOLUTIONS)
    return sc / k, lm / k


def loss_fn(model, mel, wav, stft_weight):
    pred = model(mel)
    l1 = mx.mean(mx.abs(pred - wav))
    sc, lm = spectral_terms(pred, wav)
    return l1 + stft_weight * (sc + lm), (l1, sc, lm)


def evaluate(model, mel, wav):
    pred = model(mel)
    sc, lm = spectral_terms(pred, wav)
    rms_p = mx.sqrt(mx.mean(pred ** 2))
    rms_t = mx.sqrt(mx.mean(wav ** 2))
    gain_db = 20.0 * mx.log10(rms_p / rms_t)
    return sc.item(), lm.item(), gain_db.item()


def main():
    t0 = time.time()
    tr_mel, tr_wav = make_set(1024)
    va_mel, va_wav = make_set(192)
    print(f"data: train {tr_wav.shape} val {va_wav.shape} mel {tr_mel.shape}  ({time.time() - t0:.1f}s)")

    model = Vocoder()
    mx.eval(model.parameters())

    total_steps, warm, stage_b = 340, 30, 110
    peak = 2e-3
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.cosine_decay(peak, total_steps - warm, 1e-5)],
        [warm])
    opt = optim.Adam(learning_rate=sched)
    step_fn = nn.value_and_grad(model, loss_fn)

    # reference outputs for the held-out set
    silence = mx.zeros_like(va_wav) + 1e-4 * mx.random.normal(va_wav.shape)
    mean_clip = mx.broadcast_to(mx.mean(tr_wav, axis=0, keepdims=True), va_wav.shape)
    sil_sc, sil_lm = [v.item() for v in spectral_terms(silence, va_wav)]
    avg_sc, avg_lm = [v.item() for v in spectral_terms(mean_clip, va_wav)]
    print(f"reference  silence: SC {sil_sc:.3f} logmag {sil_lm:.3f} | mean clip: SC {avg_sc:.3f} logmag {avg_lm:.3f}")

    sc0, lm0, g0 = evaluate(model, va_mel, va_wav)
    print(f"init       val SC {sc0:.3f} logmag {lm0:.3f} gain {g0:+.1f} dB")

    bs = 16
    n = tr_wav.shape[0]
    perm = np.arange(n)
    ptr = n
    for step in range(total_steps):
        if ptr + bs > n:
            rng.shuffle(perm)
            ptr = 0
        idx = mx.array(perm[ptr:ptr + bs])
        ptr += bs
        w = 0.0 if step < stage_b else 1.0
        if step == stage_b:
            print(f"--- stage B from step {step}: STFT terms join the objective ---")
        (loss, (l1, sc, lm)), grads = step_fn(model, tr_mel[idx], tr_wav[idx], w)
        grads, gnorm = optim.clip_grad_norm(grads, 5.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 40 == 0 or step == total_steps - 1:
            lr = opt.learning_rate.item()
            print(f"step {step:4d} lr {lr:.2e} loss {loss.item():.4f} l1 {l1.item():.4f} "
                  f"SC {sc.item():.3f} logmag {lm.item():.3f} |g| {gnorm.item():.3f}")
        if step in (stage_b - 1, total_steps - 1):
            vsc, vlm, vg = evaluate(model, va_mel, va_wav)
            print(f"  val @ {step}: SC {vsc:.3f} logmag {vlm:.3f} gain {vg:+.1f} dB")

    vsc, vlm, vg = evaluate(model, va_mel, va_wav)
    print(f"final val SC {vsc:.3f} (silence {sil_sc:.3f}, mean clip {avg_sc:.3f}) "
          f"logmag {vlm:.3f} (silence {sil_lm:.3f}, mean clip {avg_lm:.3f}) gain {vg:+.1f} dB")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
