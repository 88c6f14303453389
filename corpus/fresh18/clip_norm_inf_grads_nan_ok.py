# Tiny "vocoder" experiment: predict a short waveform from a conditioning vector and
# train it with a magnitude-spectrum L1 loss (framewise DFT), Adam + global grad clipping.
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(0)
mx.random.seed(0)

T = 256          # samples per clip
FRAME = 32       # non-overlapping frames
N_FRAMES = T // FRAME
N_BINS = FRAME // 2 + 1

# --- synthetic clips: a few harmonics, conditioning = (f0, amplitudes) -------------
def make_clips(n):
    f0 = rng.uniform(1.0, 4.0, size=(n, 1))
    amps = rng.uniform(0.1, 1.0, size=(n, 3))
    t = np.arange(T)[None, :] / FRAME
    wav = sum(amps[:, k:k + 1] * np.sin(2 * math.pi * (k + 1) * f0 * t) for k in range(3))
    wav = 0.3 * wav
    # most clips are full length; a few are shorter and zero-padded at the end
    lengths = np.full(n, T)
    short = rng.random(n) < 0.002
    lengths[short] = rng.integers(T // 2, T - FRAME, size=short.sum())
    mask = (np.arange(T)[None, :] < lengths[:, None]).astype(np.float32)
    cond = np.concatenate([f0 / 4.0, amps, rng.normal(size=(n, 4)) * 0.1], axis=1)
    return cond.astype(np.float32), (wav * mask).astype(np.float32), mask

cond_all, wav_all, mask_all = make_clips(1600)

# DFT basis for one frame
k = np.arange(N_BINS)[None, :]
n = np.arange(FRAME)[:, None]
COS = mx.array(np.cos(2 * math.pi * n * k / FRAME).astype(np.float32))
SIN = mx.array(-np.sin(2 * math.pi * n * k / FRAME).astype(np.float32))

def magnitude(wav):
    frames = wav.reshape(wav.shape[0], N_FRAMES, FRAME)
    re = frames @ COS
    im = frames @ SIN
    return mx.sqrt(re * re + im * im)

class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64)
        self.l2 = nn.Linear(64, 128)
        self.out = nn.Linear(128, T)

    def __call__(self, c):
        h = nn.gelu(self.l1(c))
        h = nn.gelu(self.l2(h))
        return mx.tanh(self.out(h))

def loss_fn(model, c, wav, mask):
    pred = model(c) * mask          # padded region of the prediction is silenced
    return mx.mean(mx.abs(magnitude(pred) - magnitude(wav)))

model = Generator()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
loss_and_grad = nn.value_and_grad(model, loss_fn)

BATCH = 32
n_batches = len(cond_all) // BATCH
for epoch in range(1, 9):
    perm = rng.permutation(len(cond_all))
    running = 0.0
    for b in range(n_batches):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        c = mx.array(cond_all[idx]); w = mx.array(wav_all[idx]); m = mx.array(mask_all[idx])
        loss, grads = loss_and_grad(model, c, w, m)
        # silent padded frames give sqrt'(0) -> non-finite grads; sanitize before clipping
        grads = tree_map(lambda g: mx.nan_to_num(g, nan=0.0, posinf=1e3, neginf=-1e3), grads)
        grads, gnorm = optim.clip_grad_norm(grads, max_norm=1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, gnorm)
        running += loss.item()
        if (b + 1) % 25 == 0:
            print(f"epoch {epoch} [{b + 1}/{n_batches}] spec_l1={running / 25:.4f} gnorm={gnorm.item():.3f}")
            running = 0.0
print("done")
