# Tanpura drone re-synthesis: a small harmonic synthesizer (DDSP-style) learns
# per-frame harmonic amplitudes from (pitch, loudness) so that the rendered audio
# matches recorded drone notes under a multi-resolution STFT loss.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SR = 8000
HOP = 64
FRAMES = 32
N = HOP * FRAMES
K = 10
FFTS = (128, 256, 512)

rng = np.random.default_rng(7)


def timbre(f0, loud):
    # hidden "jawari" brightness law: louder and lower notes are brighter
    k = np.arange(1, K + 1)[None, None, :]
    bright = 0.25 + 0.55 * loud[..., None] - 0.3 * (f0[..., None] - 200.0) / 150.0
    a = np.exp(-k / (1.0 + 3.0 * np.clip(bright, 0.05, 1.2)))
    a = a * (1.0 + 0.35 * np.sin(0.9 * k + f0[..., None] / 60.0))
    a = a / a.sum(-1, keepdims=True)
    return a * loud[..., None]


def make_clips(n):
    base = rng.uniform(110.0, 330.0, size=(n, 1))
    vib = 1.0 + 0.01 * np.sin(2 * np.pi * rng.uniform(0.5, 2.0, (n, 1)) * np.arange(FRAMES)[None] / 30.0)
    f0 = base * vib                                            # (n, FRAMES)
    t = np.arange(FRAMES)[None] / FRAMES
    loud = 0.3 + 0.6 * np.exp(-3.0 * t * rng.uniform(0.2, 1.5, (n, 1))) * rng.uniform(0.6, 1.0, (n, 1))
    amps = timbre(f0, loud)                                    # (n, FRAMES, K)
    f0_s = np.repeat(f0, HOP, axis=1)                          # sample-rate pitch
    phase = 2 * np.pi * np.cumsum(f0_s / SR, axis=1)
    kk = np.arange(1, K + 1)
    basis = np.sin(phase[..., None] * kk)                      # (n, N, K)
    basis = basis * (f0_s[..., None] * kk < SR / 2)            # drop aliased partials
    amps_s = np.repeat(amps, HOP, axis=1)
    clean = (amps_s * basis).sum(-1)
    audio = clean + 0.01 * rng.standard_normal(clean.shape)    # microphone hiss
    cond = np.stack([(f0 - 220.0) / 80.0, (loud - 0.6) / 0.2], -1)
    return (cond.astype(np.float32), basis.astype(np.float32), audio.astype(np.float32),
            clean.astype(np.float32), amps.astype(np.float32))


class HarmonicSynth(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, K + 1))

    def amplitudes(self, cond):
        h = self.net(cond)
        dist = mx.softmax(h[..., :K], axis=-1)
        gain = nn.softplus(h[..., K:])
        return dist * gain                                     # (B, FRAMES, K)

    def __call__(self, cond, basis):
        a = mx.repeat(self.amplitudes(cond), HOP, axis=1)
        return (a * basis).sum(-1)


WINDOWS = {n_fft: mx.array(np.hanning(n_fft).astype(np.float32)) for n_fft in FFTS}


def frames(x, n_fft):
    # half-overlapping frames from two reshapes (offset 0 and offset n_fft/2)
    half = n_fft // 2
    a = x[:, :N].reshape(x.shape[0], -1, n_fft)
    b = x[:, half:N - half].reshape(x.shape[0], -1, n_fft)
    return mx.concatenate([a, b], axis=1) * WINDOWS[n_fft]


def mrstft(x, y):
    total = 0.0
    for n_fft in FFTS:
        X = mx.abs(mx.fft.rfft(frames(x, n_fft), axis=-1))
        Y = mx.abs(mx.fft.rfft(frames(y, n_fft), axis=-1))
        sc = mx.sqrt(((Y - X) ** 2).sum()) / mx.sqrt((Y ** 2).sum())
        lm = mx.abs(mx.log(X + 1e-2) - mx.log(Y + 1e-2)).mean()
        total = total + sc + lm
    return total / len(FFTS)


tr = [mx.array(a) for a in make_clips(768)]
va = [mx.array(a) for a in make_clips(128)]
print(f"clips: train {tr[0].shape[0]}  valid {va[0].shape[0]}  {N} samples @ {SR} Hz, {K} partials")

# references the learned synth should be read against
flat = mx.broadcast_to(mx.ones((K,)) / K, va[4].shape) * va[4].sum(-1, keepdims=True)
flat_audio = (mx.repeat(flat, HOP, axis=1) * va[1]).sum(-1)
floor = mrstft(va[3], va[2]).item()
base = mrstft(flat_audio, va[2]).item()
amp_base = mx.abs(flat - va[4]).mean().item()
print(f"valid mrstft: flat-spectrum synth {base:.4f}   hiss floor (clean vs recorded) {floor:.4f}")

mx.random.seed(3)
model = HarmonicSynth()
warm, total_steps = 40, 320
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm),
                              optim.cosine_decay(3e-3, total_steps - warm, 1e-4)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, c, b, y):
    return mrstft(m(c, b), y)


step_fn = nn.value_and_grad(model, loss_fn)
BS = 16
t0 = time.time()
for step in range(total_steps):
    ix = mx.array(rng.integers(0, tr[0].shape[0], BS))
    loss, g = step_fn(model, tr[0][ix], tr[1][ix], tr[2][ix])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 40 == 0 or step == total_steps - 1:
        v = mrstft(model(va[0], va[1]), va[2]).item()
        amp_err = mx.abs(model.amplitudes(va[0]) - va[4]).mean().item()
        print(f"step {step:4d}  lr {opt.learning_rate.item():.2e}  train {loss.item():.4f}  "
              f"valid {v:.4f}  amp_mae {amp_err:.4f}")

v = mrstft(model(va[0], va[1]), va[2]).item()
amp_err = mx.abs(model.amplitudes(va[0]) - va[4]).mean().item()
print(f"final valid mrstft {v:.4f} (flat {base:.4f}, floor {floor:.4f})  "
      f"amp_mae {amp_err:.4f} (flat {amp_base:.4f})  {time.time() - t0:.1f}s")
