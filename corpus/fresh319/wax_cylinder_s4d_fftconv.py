"""Phonograph archive: which of 4 announcer call-tones opens a wax-cylinder groove trace.

Each synthetic trace is 192 samples of stylus displacement. A short call-tone
(one of 4 shapes) sits somewhere in the first 24 samples; the rest is surface
hiss plus a slow wow/flutter drift. The label must be read from the LAST
sample's features only, so the model has to carry the opening tone across
~170 samples of hiss.

Model: 2 blocks of an S4D-style diagonal state space layer (S4D-Lin init,
learned log-dt per channel, real cos/sin Vandermonde kernel) applied as a long
causal convolution through the FFT, LayerNorm pre-norm, GELU, residual mixing.
Training: AdamW, linear warmup from exactly 0, then cosine. Training stops at
step 180, weights + optimizer state are written to disk, a fresh model and
optimizer are built, restored, and training resumes to step 360.
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

L = 192
N_CLASSES = 4
H = 24        # channels
N = 16        # state size (N/2 oscillator pairs represented by cos/sin parts)
BATCH = 32
TOTAL_STEPS = 360
RESUME_AT = 180


def make_split(n, rng):
    t = np.arange(12)
    shapes = np.stack([
        np.sin(2 * np.pi * t / 6.0),
        np.sign(np.sin(2 * np.pi * t / 4.0)),
        np.exp(-0.3 * t) * np.cos(2 * np.pi * t / 3.0) * 2.0,
        np.where(t < 6, 1.0, -1.0) * 0.9,
    ])
    y = rng.integers(0, N_CLASSES, size=n)
    start = rng.integers(0, 12, size=n)
    x = 0.35 * rng.standard_normal((n, L))
    tt = np.arange(L)
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    x += 0.4 * np.sin(2 * np.pi * tt[None, :] / 97.0 + phase)
    for i in range(n):
        x[i, start[i]:start[i] + 12] += 1.6 * shapes[y[i]]
    return x[..., None].astype(np.float32), y.astype(np.int32)


class S4DConv(nn.Module):
    def __init__(self, h, n):
        super().__init__()
        half = n // 2
        self.log_dt = mx.array(np.log(np.exp(np.random.uniform(np.log(1e-3), np.log(1e-1), size=(h, 1)))).astype(np.float32))
        self.log_a = mx.log(0.5 * mx.ones((h, half)))
        self.w = mx.broadcast_to(math.pi * mx.arange(half, dtype=mx.float32), (h, half))
        self.c_cos = mx.random.normal((h, half)) * (0.5 ** 0.5)
        self.c_sin = mx.random.normal((h, half)) * (0.5 ** 0.5)
        self.d = mx.ones((h,))

    def kernel(self, length):
        dt = mx.exp(self.log_dt)                        # (H, 1)
        a = mx.exp(self.log_a)                          # (H, half)
        l = mx.arange(length, dtype=mx.float32)         # (L,)
        ang = (self.w * dt)[..., None] * l              # (H, half, L)
        mag = mx.exp(-(a * dt)[..., None] * l)          # (H, half, L)
        k = (self.c_cos[..., None] * mx.cos(ang) + self.c_sin[..., None] * mx.sin(ang)) * mag
        return k.sum(axis=1) * dt                       # (H, L)

    def __call__(self, u):                              # u: (B, L, H)
        length = u.shape[1]
        k = self.kernel(length).T                       # (L, H)
        n_fft = 2 * length
        uf = mx.fft.rfft(u, n=n_fft, axis=1)
        kf = mx.fft.rfft(k, n=n_fft, axis=0)
        y = mx.fft.irfft(uf * kf[None], n=n_fft, axis=1)[:, :length]
        return y + u * self.d


class Block(nn.Module):
    def __init__(self, h, n):
        super().__init__()
        self.norm = nn.LayerNorm(h)
        self.ssm = S4DConv(h, n)
        self.mix = nn.Linear(h, h)

    def __call__(self, x):
        return x + self.mix(nn.gelu(self.ssm(self.norm(x))))


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(1, H)
        self.blocks = [Block(H, N) for _ in range(2)]
        self.norm = nn.LayerNorm(H)
        self.head = nn.Linear(H, N_CLASSES)

    def __call__(self, x):
        h = self.enc(x)
        for b in self.blocks:
            h = b(h)
        return self.head(self.norm(h[:, -1, :]))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def make_optimizer():
    warm = optim.linear_schedule(0.0, 4e-3, 40)
    cos = optim.cosine_decay(4e-3, TOTAL_STEPS - 40, 2e-4)
    return optim.AdamW(learning_rate=optim.join_schedules([warm, cos], [40]), weight_decay=0.01)


def evaluate(model, x, y):
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    acc = (mx.argmax(logits, axis=-1) == y).astype(mx.float32).mean().item()
    return loss, acc


def train_span(model, opt, xtr, ytr, xva, yva, first, last, rng):
    step_fn = nn.value_and_grad(model, loss_fn)
    running = []
    for step in range(first, last + 1):
        idx = mx.array(rng.integers(0, xtr.shape[0], size=BATCH))
        loss, grads = step_fn(model, xtr[idx], ytr[idx])
        grads, gnorm = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        if step % 30 == 0:
            vl, va = evaluate(model, xva, yva)
            lr = opt.learning_rate.item()
            print(f"step {step:4d}  lr {lr:.2e}  train_ce {np.mean(running):.4f}  "
                  f"val_ce {vl:.4f}  val_acc {va:.3f}  grad_norm {gnorm.item():.3f}")
            running = []


def main():
    np.random.seed(0)
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    xtr_np, ytr_np = make_split(3000, rng)
    xva_np, yva_np = make_split(400, rng)
    xtr, ytr = mx.array(xtr_np), mx.array(ytr_np)
    xva, yva = mx.array(xva_np), mx.array(yva_np)

    counts = np.bincount(yva_np, minlength=N_CLASSES)
    print(f"val class counts {counts.tolist()}  majority baseline acc {counts.max() / counts.sum():.3f}  "
          f"chance ce {math.log(N_CLASSES):.4f}")

    model = Classifier()
    opt = make_optimizer()
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"params {n_params}  seq_len {L}  steps {TOTAL_STEPS} (resume at {RESUME_AT})")

    t0 = time.time()
    train_span(model, opt, xtr, ytr, xva, yva, 1, RESUME_AT, rng)

    ckpt_dir = tempfile.mkdtemp()
    wpath = os.path.join(ckpt_dir, "weights.safetensors")
    opath = os.path.join(ckpt_dir, "optimizer.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    vl_before, va_before = evaluate(model, xva, yva)
    print(f"checkpoint written at step {RESUME_AT}: val_ce {vl_before:.4f} val_acc {va_before:.3f}")

    model = Classifier()
    model.load_weights(wpath)
    opt = make_optimizer()
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt.state)
    vl_after, va_after = evaluate(model, xva, yva)
    print(f"restored: val_ce {vl_after:.4f} val_acc {va_after:.3f}  optimizer step {int(opt.state['step'].item())}")

    train_span(model, opt, xtr, ytr, xva, yva, RESUME_AT + 1, TOTAL_STEPS, rng)
    vl, va = evaluate(model, xva, yva)
    print(f"final val_ce {vl:.4f}  val_acc {va:.3f}  (majority {counts.max() / counts.sum():.3f})  "
          f"time {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
