"""Tiny conditional flow-matching model for variable-length "mel" sequences.

Each utterance is a sequence of 8-bin frames whose mean spectrum is set by a
per-frame phone id; utterances have different lengths and are zero-padded.
Loss: flow-matching MSE (x_t = (1-t) x0 + t x1, target x1 - x0) averaged only
over real (unpadded) frames, using a length mask.
"""
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

N_MELS, N_PHONES, MAX_LEN = 8, 12, 40


def exists(v):
    return v is not None


def lens_to_mask(t, length=None):
    """t: (b,) int lengths -> (b, n) bool mask."""
    if not exists(length):
        length = t.max()
    seq = mx.arange(length)
    return seq[None, :] < t[:, None]


PHONE_SPEC = np.random.default_rng(99).normal(0, 1, (N_PHONES, N_MELS)).astype(np.float32)


def make_batch(rng, b):
    lens = rng.integers(12, MAX_LEN + 1, size=b)
    T = int(lens.max())
    phones = np.zeros((b, T), np.int32)
    mel = np.zeros((b, T, N_MELS), np.float32)
    for i, L in enumerate(lens):
        seg = np.repeat(rng.integers(0, N_PHONES, size=L // 4 + 1), 4)[:L]
        phones[i, :L] = seg
        mel[i, :L] = PHONE_SPEC[seg] + 0.1 * rng.normal(size=(L, N_MELS))
    return mx.array(mel), mx.array(phones), mx.array(lens.astype(np.int32))


class VelocityNet(nn.Module):
    def __init__(self, dims=64):
        super().__init__()
        self.phone = nn.Embedding(N_PHONES, dims)
        self.inp = nn.Linear(N_MELS + 1, dims)
        self.conv = nn.Conv1d(dims, dims, kernel_size=5, padding=2)
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(dims, dims), nn.SiLU(),
                                 nn.Linear(dims, N_MELS))

    def __call__(self, x_t, t, phones):
        tt = mx.broadcast_to(t[:, None, None], x_t.shape[:2] + (1,))
        h = self.inp(mx.concatenate([x_t, tt], axis=-1)) + self.phone(phones)
        h = h + self.conv(nn.silu(h))
        return self.mlp(h)


def cfm_loss(model, mel, phones, lens, key):
    k1, k2 = mx.random.split(key)
    x0 = mx.random.normal(mel.shape, key=k1)
    t = mx.random.uniform(shape=(mel.shape[0],), key=k2)
    x_t = (1 - t[:, None, None]) * x0 + t[:, None, None] * mel
    pred = model(x_t, t, phones)
    mask = lens_to_mask(lens, length=None)
    err = mx.mean((pred - (mel - x0)) ** 2, axis=-1)
    return mx.sum(err * mask) / mx.sum(mask)


def bar(i, n, width=24):
    k = int(width * i / n)
    return "[" + "=" * k + ">" + "." * (width - k) + "]"


def main():
    rng = np.random.default_rng(0)
    key = mx.random.key(0)
    model = VelocityNet()
    opt = optim.AdamW(learning_rate=optim.linear_schedule(1e-4, 2e-3, 50))
    vg = nn.value_and_grad(model, cfm_loss)
    val = make_batch(rng, 64)
    val_key = mx.random.key(123)

    total, ema = 500, None
    t0 = time.time()
    for step in range(1, total + 1):
        key, sub = mx.random.split(key)
        mel, phones, lens = make_batch(rng, 32)
        loss, grads = vg(model, mel, phones, lens, sub)
        grads, gnorm = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, gnorm)
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % 50 == 0:
            vl = cfm_loss(model, *val, val_key).item()
            sys.stdout.write(f"\r{bar(step, total)} {step}/{total} loss_ema={ema:.4f} "
                             f"val={vl:.4f} |g|={gnorm.item():.3f} {time.time() - t0:.1f}s\n")
            sys.stdout.flush()
    mel_v, _, lens_v = val
    m = lens_to_mask(lens_v, int(lens_v.max().item()))
    base = (mx.sum(mx.mean(mel_v ** 2, axis=-1) * m) / mx.sum(m)).item() + 1.0
    print(f"finished; predict-zero-velocity baseline val loss = {base:.3f}")


if __name__ == "__main__":
    main()
