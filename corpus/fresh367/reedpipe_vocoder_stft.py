# Reed-pipe practice vocoder: log-band frames -> waveform, multi-resolution STFT loss.
# Two sessions: the first stops at step 150 and writes a checkpoint, the second
# loads it into fresh objects and carries on to step 300.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SR, HOP, NFRAMES, NBANDS = 4000, 32, 16, 20
NSAMP = HOP * NFRAMES
rng = np.random.default_rng(11)

def synth(n):
    t = np.arange(NSAMP) / SR
    out = np.zeros((n, NSAMP), np.float32)
    for i in range(n):
        f0 = rng.uniform(110, 320)
        glide = rng.uniform(-0.15, 0.15)
        f = f0 * (1 + glide * t / t[-1])
        ph = 2 * np.pi * np.cumsum(f) / SR
        tilt = rng.uniform(0.5, 1.4)
        w = sum((1.0 / k ** tilt) * np.sin(k * ph + rng.uniform(0, 2 * np.pi))
                for k in range(1, 9) if k * f0 < SR / 2 - 100)
        env = np.minimum(1, t / rng.uniform(0.01, 0.05)) * np.exp(-t * rng.uniform(0, 3))
        w = w * env + 0.01 * rng.standard_normal(NSAMP)
        out[i] = 0.5 * w / (np.abs(w).max() + 1e-6)
    return out

def band_frames(wav):
    # numpy log-band energies, one frame per HOP samples (Hann, n_fft 128)
    nfft = 128
    pad = np.pad(wav, ((0, 0), (nfft // 2, nfft // 2)))
    idx = np.arange(NFRAMES)[:, None] * HOP + np.arange(nfft)[None]
    spec = np.abs(np.fft.rfft(pad[:, idx] * np.hanning(nfft), axis=-1)) ** 2
    edges = np.linspace(0, spec.shape[-1], NBANDS + 1).astype(int)
    bands = np.stack([spec[..., a:b].sum(-1) for a, b in zip(edges[:-1], edges[1:])], -1)
    return np.log(bands + 1e-4).astype(np.float32)

train_w, test_w = synth(512), synth(48)
train_c, test_c = band_frames(train_w), band_frames(test_w)
mu, sd = train_c.mean((0, 1)), train_c.std((0, 1)) + 1e-5
train_c, test_c = (train_c - mu) / sd, (test_c - mu) / sd

SEG_WIN = mx.sin(mx.pi * (mx.arange(2 * HOP) + 0.5) / (2 * HOP))


class Upsampler(nn.Module):
    # frame-rate conv stack, then each frame emits 2*HOP samples that are
    # overlap-added with a half-frame shift (sine window on both halves)
    def __init__(self, ch=64):
        super().__init__()
        self.pre = nn.Conv1d(NBANDS, ch, 3, padding=1)
        self.mid1 = nn.Conv1d(ch, ch, 3, padding=1)
        self.mid2 = nn.Conv1d(ch, ch, 3, padding=2, dilation=2)
        self.head = nn.Linear(ch, 2 * HOP)

    def __call__(self, c):
        h = nn.gelu(self.pre(c))
        h = h + nn.gelu(self.mid1(h))
        h = h + nn.gelu(self.mid2(h))
        seg = mx.tanh(self.head(h)) * SEG_WIN           # (B, F, 2*HOP)
        first, second = seg[..., :HOP], seg[..., HOP:]
        prev = mx.pad(second[:, :-1], [(0, 0), (1, 0), (0, 0)])
        return (first + prev).reshape(c.shape[0], -1)

RES = [(32, 8), (64, 16), (128, 32)]
FRAME_IDX = {n: mx.array(np.arange((NSAMP - n) // h + 1)[:, None] * h + np.arange(n)[None]) for n, h in RES}
WIN = {n: mx.array(np.hanning(n).astype(np.float32)) for n, _ in RES}

def mag(x, n):
    return mx.sqrt(mx.abs(mx.fft.rfft(x[:, FRAME_IDX[n]] * WIN[n], axis=-1)) ** 2 + 1e-7)

def mrstft(y_hat, y):
    total = 0.0
    for n, _ in RES:
        a, b = mag(y_hat, n), mag(y, n)
        sc = mx.sqrt(mx.sum((b - a) ** 2)) / mx.sqrt(mx.sum(b ** 2))
        lm = mx.mean(mx.abs(mx.log(a) - mx.log(b)))
        total = total + sc + lm
    return total / len(RES)

def loss_fn(model, c, y):
    return mrstft(model(c), y)

WARM, TOTAL, PEAK, BATCH = 40, 300, 3e-3, 12
sched = optim.join_schedules([optim.linear_schedule(0.0, PEAK, WARM),
                              optim.cosine_decay(PEAK, TOTAL - WARM, 1e-4)], [WARM])

def heldout(model):
    yh = model(mx.array(test_c))
    y = mx.array(test_w)
    return mrstft(yh, y).item(), mx.mean(mx.abs(yh - y)).item()

def baselines():
    y = mx.array(test_w)
    rms = float(np.sqrt((test_w ** 2).mean()))
    noise = mx.array(np.random.default_rng(5).standard_normal(test_w.shape).astype(np.float32) * rms)
    return mrstft(mx.zeros_like(y), y).item(), mrstft(noise, y).item()

def run_session(start, stop, ckpt, resume):
    model = Upsampler()
    opt = optim.Adam(learning_rate=sched)
    if resume:
        model.load_weights(os.path.join(ckpt, "gen.safetensors"))
        st = mx.load(os.path.join(ckpt, "opt.safetensors"))
        opt.init(model.trainable_parameters())
        opt.state = tree_unflatten(list(st.items()))
        print(f"  resumed: optimizer step = {opt.step.item()}  lr now = {opt.learning_rate.item():.2e}")
    else:
        mx.random.seed(0)
        model = Upsampler()
        opt = optim.Adam(learning_rate=sched)
    mx.eval(model.parameters())
    step_fn = nn.value_and_grad(model, loss_fn)
    order = np.random.default_rng(100 + start)
    window = []
    t0 = time.time()
    for step in range(start, stop):
        ix = order.integers(0, len(train_w), BATCH)
        loss, grads = step_fn(model, mx.array(train_c[ix]), mx.array(train_w[ix]))
        if step == 0:
            flat = tree_flatten(grads)
            nz = sum(1 for _, g in flat if mx.any(g != 0).item())
            print(f"  first batch: {nz}/{len(flat)} gradient leaves non-zero, lr used = {opt.learning_rate.item():.1e}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if (step + 1) % 50 == 0:
            ho, wl1 = heldout(model)
            print(f"- step: {step + 1}\n  lr: {opt.learning_rate.item():.2e}\n"
                  f"  train_mrstft: {np.mean(window):.4f}\n  heldout_mrstft: {ho:.4f}\n"
                  f"  heldout_wave_l1: {wl1:.4f}\n  secs: {time.time() - t0:.1f}")
            window = []
    os.makedirs(ckpt, exist_ok=True)
    model.save_weights(os.path.join(ckpt, "gen.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
    return model

print(f"clips: train {len(train_w)}  heldout {len(test_w)}  ({NSAMP} samples @ {SR} Hz, {NFRAMES}x{NBANDS} band frames)")
sil, noi = baselines()
print(f"reference heldout_mrstft: silence {sil:.4f}  rms-matched white noise {noi:.4f}")
mx.random.seed(0)
print(f"untrained heldout_mrstft: {heldout(Upsampler())[0]:.4f}")
with tempfile.TemporaryDirectory() as ck:
    print("session 1")
    run_session(0, 150, ck, resume=False)
    print("session 2")
    model = run_session(150, TOTAL, ck, resume=True)
ho, wl1 = heldout(model)
print(f"final heldout_mrstft {ho:.4f} (silence {sil:.4f}, noise {noi:.4f});"
      f" wave_l1 {wl1:.4f} stays near the random-phase level")
