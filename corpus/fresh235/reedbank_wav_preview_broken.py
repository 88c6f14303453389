"""Tiny spectrogram-to-waveform decoder trained on synthetic tones.

The decoder runs in bfloat16 (as the large audio decoders do), the loss is a
log-STFT magnitude L1 plus a small waveform L1.  Every 40 steps a preview clip
is decoded and written to a WAV file so it can be listened to.
"""
import os
import tempfile
import time
import wave

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SR = 8000
HOP = 100
N_FFT = 128
FRAMES = 40
CLIP = HOP * FRAMES
STEPS = 200
BATCH = 8
PREVIEW_EVERY = 40

rng = np.random.default_rng(7)
mx.random.seed(7)


def make_clip():
    t = np.arange(CLIP) / SR
    f0 = rng.uniform(180, 900)
    amp = rng.uniform(0.2, 0.6)
    env = np.minimum(1.0, np.linspace(0, 4, CLIP)) * np.exp(-t * rng.uniform(0.5, 2.0))
    y = amp * env * (np.sin(2 * np.pi * f0 * t) + 0.3 * np.sin(2 * np.pi * 2 * f0 * t))
    return y.astype(np.float32)


def log_spec_np(y):
    pad = np.pad(y, (N_FFT // 2, N_FFT // 2))
    win = np.hanning(N_FFT).astype(np.float32)
    frames = np.stack([pad[i * HOP:i * HOP + N_FFT] * win for i in range(FRAMES)])
    return np.log(np.abs(np.fft.rfft(frames, axis=-1)) + 1e-3).astype(np.float32)


def make_batch(n):
    ys = np.stack([make_clip() for _ in range(n)])
    specs = np.stack([log_spec_np(y) for y in ys])
    return mx.array(specs), mx.array(ys)


def stft_mag(y, n_fft, hop):
    n = (y.shape[-1] - n_fft) // hop + 1
    idx = mx.arange(n_fft)[None, :] + hop * mx.arange(n)[:, None]
    win = mx.array(np.hanning(n_fft).astype(np.float32))
    frames = y[:, idx] * win
    return mx.abs(mx.fft.rfft(frames, axis=-1))


class ToneDecoder(nn.Module):
    def __init__(self, bins=N_FFT // 2 + 1, hidden=48):
        super().__init__()
        self.inp = nn.Conv1d(bins, hidden, kernel_size=3, padding=1)
        self.mid = nn.Conv1d(hidden, hidden, kernel_size=3, padding=1)
        self.out = nn.Linear(hidden, HOP)

    def __call__(self, spec):
        h = nn.gelu(self.inp((spec + 3.0) * 0.25))
        h = h + nn.gelu(self.mid(h))
        chunks = 0.8 * mx.tanh(self.out(h))
        return chunks.reshape(spec.shape[0], -1)


def loss_fn(model, spec, y):
    pred = model(spec.astype(mx.bfloat16)).astype(mx.float32)
    loss = 0.1 * mx.mean(mx.abs(pred - y))
    for n_fft, hop in ((128, 32), (64, 16)):
        pm = stft_mag(pred, n_fft, hop)
        tm = stft_mag(y, n_fft, hop)
        loss = loss + mx.mean(mx.abs(mx.log(pm + 1e-3) - mx.log(tm + 1e-3)))
    return loss


def save_wav_preview(audio, path):
    audio_np = np.array(audio, copy=False).astype(np.float32)
    pcm = (np.clip(audio_np, -1.0, 1.0) * 32767).astype(np.int16)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())
    return float(np.sqrt(np.mean(audio_np ** 2))), float(np.max(np.abs(audio_np)))


def main():
    model = ToneDecoder()
    model.set_dtype(mx.bfloat16)
    opt = optim.Adam(learning_rate=1e-3)
    step_fn = nn.value_and_grad(model, loss_fn)
    val_spec, val_y = make_batch(32)
    prev_spec, prev_y = make_batch(1)
    out_dir = tempfile.mkdtemp()
    t0 = time.time()
    for step in range(1, STEPS + 1):
        spec, y = make_batch(BATCH)
        loss, grads = step_fn(model, spec, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 20 == 0:
            print(f"step {step:4d} | train loss {loss.item():.4f} | {time.time() - t0:.1f}s", flush=True)
        if step % PREVIEW_EVERY == 0:
            val = loss_fn(model, val_spec, val_y).item()
            audio = model(prev_spec.astype(mx.bfloat16))[0]
            path = os.path.join(out_dir, f"preview_{step:05d}.wav")
            rms, peak = save_wav_preview(audio, path)
            ref_rms = float(np.sqrt(np.mean(np.array(prev_y) ** 2)))
            print(f"  val loss {val:.4f} | preview rms {rms:.3f} (ref {ref_rms:.3f}) peak {peak:.3f} -> {os.path.basename(path)}", flush=True)
    print(f"done: {STEPS} steps, final val loss {loss_fn(model, val_spec, val_y).item():.4f}")


if __name__ == "__main__":
    main()
