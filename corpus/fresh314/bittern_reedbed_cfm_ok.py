"""Tiny conditional flow-matching mel infiller (F5-TTS style span infilling).

Synthetic 'mel' frames of reed-bed bittern booms, padded to a constant bucket
length; a random span of each clip is hidden and the model learns the
velocity field that fills it in.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

N_MELS = 16
BUCKET = 80  # every batch is padded to this many frames
BATCH = 16
STEPS = 200


def exists(v):
    return v is not None


def default(v, d):
    return v if exists(v) else d


def lens_to_mask(t, length=None):
    if not exists(length):
        length = t.max().item()
    seq = mx.arange(length)
    return seq[None, :] < t[:, None]


def mask_from_start_end_indices(seq_len, start, end, max_length=None):
    max_seq_len = default(max_length, seq_len.max().item())
    seq = mx.arange(max_seq_len).astype(mx.int32)
    return (seq[None, :] >= start[:, None]) & (seq[None, :] < end[:, None])


def pad_to_length(t, length, value=0):
    n = t.shape[-1]
    if n >= length:
        return t[..., :length]
    return mx.pad(t, [(0, 0)] * (t.ndim - 1) + [(0, length - n)], constant_values=value)


def mask_from_frac_lengths(seq_len, frac_lengths, max_length=None):
    lengths = (frac_lengths * seq_len).astype(mx.int32)
    max_start = seq_len - lengths
    rand = mx.random.uniform(0, 1, frac_lengths.shape)
    start = mx.maximum((max_start * rand).astype(mx.int32), 0)
    end = start + lengths
    out = mask_from_start_end_indices(seq_len, start, end, max_length)
    if exists(max_length):
        out = pad_to_length(out, max_length)
    return out


class VelocityNet(nn.Module):
    def __init__(self, dim=N_MELS, hidden=64):
        super().__init__()
        self.inp = nn.Linear(2 * dim + 8, hidden)
        self.conv = nn.Conv1d(hidden, hidden, kernel_size=5, padding=2)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, dim)
        self._freqs = mx.array([1.0, 2.0, 4.0, 8.0])

    def __call__(self, xt, cond, t):
        b, n, _ = xt.shape
        tf = t[:, None] * self._freqs[None, :] * np.pi
        temb = mx.concatenate([mx.sin(tf), mx.cos(tf)], axis=-1)
        temb = mx.broadcast_to(temb[:, None, :], (b, n, temb.shape[-1]))
        h = nn.silu(self.inp(mx.concatenate([xt, cond, temb], axis=-1)))
        h = h + nn.silu(self.conv(h))
        h = nn.silu(self.mid(h))
        return self.out(h)


class CFM(nn.Module):
    def __init__(self, frac_lengths_mask=(0.3, 0.7)):
        super().__init__()
        self.net = VelocityNet()
        self.frac_lengths_mask = frac_lengths_mask

    def __call__(self, inp, lens):
        batch, seq_len = inp.shape[:2]
        mask = lens_to_mask(lens, length=seq_len)

        frac_lengths = mx.random.uniform(*self.frac_lengths_mask, (batch,))
        rand_span_mask = mask_from_frac_lengths(lens, frac_lengths, max_length=seq_len)
        rand_span_mask = rand_span_mask & mask

        x1 = inp
        x0 = mx.random.normal(x1.shape)
        time_ = mx.random.uniform(0, 1, (batch,))
        t = time_[:, None, None]
        xt = (1 - t) * x0 + t * x1
        flow = x1 - x0

        cond = mx.where(rand_span_mask[..., None], mx.zeros_like(x1), x1)
        pred = self.net(xt, cond, time_)

        loss = mx.square(pred - flow)
        loss = mx.where(rand_span_mask[..., None], loss, 0.0)
        return loss.sum() / (rand_span_mask.sum() * N_MELS + 1e-6)


def make_clip(rng, n):
    """A boom: a few low harmonics swelling and fading, plus marsh noise."""
    f0 = rng.uniform(1.0, 3.0)
    env = np.sin(np.linspace(0, np.pi, n)) ** 2
    bins = np.arange(N_MELS)[None, :]
    harmonics = np.exp(-((bins - f0 * np.array([[1.0]])) ** 2) / 2.0)
    harmonics += 0.6 * np.exp(-((bins - 2 * f0) ** 2) / 3.0)
    frames = env[:, None] * harmonics * 3.0 - 1.5
    frames += 0.1 * rng.standard_normal((n, N_MELS))
    return frames.astype(np.float32)


def make_batch(rng):
    lens = rng.integers(48, BUCKET + 1, size=BATCH)
    x = np.full((BATCH, BUCKET, N_MELS), -1.5, dtype=np.float32)
    for i, n in enumerate(lens):
        x[i, :n] = make_clip(rng, int(n))
    return mx.array(x), mx.array(lens.astype(np.int32))


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    model = CFM()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=1e-3, weight_decay=1e-4)
    loss_and_grad = nn.value_and_grad(model, lambda m, x, l: m(x, l))

    val = [make_batch(np.random.default_rng(1000 + i)) for i in range(4)]

    def val_loss():
        mx.random.seed(123)
        return float(np.mean([model(x, l).item() for x, l in val]))

    print(f"bucket={BUCKET} frames, mels={N_MELS}, batch={BATCH}")
    tic = time.time()
    run = []
    for step in range(1, STEPS + 1):
        x, lens = make_batch(rng)
        loss, grads = loss_and_grad(model, x, lens)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if step % 40 == 0 or step == 1:
            print(
                f"step {step:4d} | train flow loss {np.mean(run[-40:]):.4f}"
                f" | val flow loss {val_loss():.4f} | {time.time() - tic:.1f}s"
            )
    print("done")


if __name__ == "__main__":
    main()
