"""Field-recorder pitch tracker for synthetic warbler notes.

Each example is a 256-sample frame (16 kHz) holding a note with a random
fundamental in 300-3000 Hz, 1-3 harmonics of random strength and hiss.  The
model maps the frame's log-magnitude spectrum to a Gaussian over log2(f0/1 kHz)
and is trained with the Gaussian negative log-likelihood, which goes below
zero once the predicted spread gets narrow.  A plain FFT-peak picker is
reported beside the model as the baseline.

Schedule: linear warm-up from lr 0 for 100 steps, then cosine decay.  Half way
through, weights and optimizer state are written to disk, then a new model and
optimizer are rebuilt from those files and training continues.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SR = 16000
N = 256
TOTAL = 700
HALF = TOTAL // 2
WARM = 100
BATCH = 96
REPORT = 70

rng = np.random.default_rng(2024)
mx.random.seed(2024)


def make_notes(n):
    lf0 = rng.uniform(np.log2(300.0), np.log2(3000.0), n)
    f0 = 2.0 ** lf0
    t = np.arange(N) / SR
    x = np.zeros((n, N), dtype=np.float64)
    for h in (1, 2, 3):
        amp = rng.uniform(0.0, 1.0, n)
        amp = np.where(h == 1, 0.4 + 0.6 * amp, amp * (rng.uniform(size=n) < 0.7))
        ok = (h * f0) < SR / 2 - 200
        ph = rng.uniform(0, 2 * np.pi, n)
        x += (amp * ok)[:, None] * np.sin(2 * np.pi * h * f0[:, None] * t[None, :] + ph[:, None])
    x += rng.normal(0, 0.05, x.shape)
    y = (lf0 - np.log2(1000.0)).astype(np.float32)
    return x.astype(np.float32), y


def fft_peak_baseline(x):
    win = np.hanning(N)
    mag = np.abs(np.fft.rfft(x * win, axis=-1))
    k = np.argmax(mag[:, 2:], axis=-1) + 2
    return np.log2(k * SR / N / 1000.0)


class PitchHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.win = mx.array(np.hanning(N).astype(np.float32))
        self.body = nn.Sequential(
            nn.Linear(N // 2 + 1, 192), nn.SiLU(),
            nn.Linear(192, 96), nn.SiLU(),
        )
        self.mu = nn.Linear(96, 1)
        self.log_var = nn.Linear(96, 1)

    def __call__(self, x):
        spec = mx.log(mx.abs(mx.fft.rfft(x * self.win, axis=-1)) + 1e-2)
        h = self.body(spec)
        return self.mu(h)[:, 0], mx.clip(self.log_var(h)[:, 0], -12.0, 4.0)


def nll(model, x, y):
    mu, lv = model(x)
    return mx.mean(0.5 * (lv + (y - mu) ** 2 * mx.exp(-lv)))


def schedule():
    warm = optim.linear_schedule(0.0, 2e-3, WARM)
    decay = optim.cosine_decay(2e-3, TOTAL - WARM, 1e-5)
    return optim.join_schedules([warm, decay], [WARM])


def cents(a, b):
    return 1200.0 * np.abs(a - b)


def evaluate(model, xs, ys):
    mu, lv = model(mx.array(xs))
    mu = np.array(mu)
    err = cents(mu, ys)
    return float(nll(model, mx.array(xs), mx.array(ys))), float(np.median(err)), float(np.mean(err < 50)), float(np.exp(0.5 * np.array(lv)).mean())


def train_span(model, opt, start, stop, test):
    step_fn = nn.value_and_grad(model, nll)
    t0 = time.time()
    running = 0.0
    for step in range(start + 1, stop + 1):
        xb, yb = make_notes(BATCH)
        loss, grads = step_fn(model, mx.array(xb), mx.array(yb))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        running += loss.item()
        if step % REPORT == 0:
            tn, med, hit, sd = evaluate(model, *test)
            print(f"step {step:5d} lr {opt.learning_rate.item():.2e} | train nll {running / REPORT:+.3f} | "
                  f"test nll {tn:+.3f} median err {med:7.1f} cents  within 50c {hit:.3f}  pred sd {sd:.4f} | {time.time() - t0:.1f}s",
                  flush=True)
            running = 0.0


def main():
    test = make_notes(2000)
    base = fft_peak_baseline(test[0])
    b_err = cents(base, test[1])
    print(f"baseline FFT peak: median err {np.median(b_err):.1f} cents, within 50c {np.mean(b_err < 50):.3f}")

    model = PitchHead()
    opt = optim.AdamW(learning_rate=schedule(), weight_decay=1e-4)
    tn, med, hit, sd = evaluate(model, *test)
    print(f"untrained: test nll {tn:+.3f} median err {med:.1f} cents")
    train_span(model, opt, 0, HALF, test)

    ckpt = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckpt, "model.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
    print(f"checkpoint written at step {HALF}; rebuilding model and optimizer from disk")

    model = PitchHead()
    model.load_weights(os.path.join(ckpt, "model.safetensors"))
    opt = optim.AdamW(learning_rate=schedule(), weight_decay=1e-4)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
    tn, med, hit, sd = evaluate(model, *test)
    print(f"resumed at step {opt.step.item()}: test nll {tn:+.3f} median err {med:.1f} cents")
    train_span(model, opt, HALF, TOTAL, test)

    tn, med, hit, sd = evaluate(model, *test)
    print(f"final: test nll {tn:+.3f}, median err {med:.1f} cents (baseline {np.median(b_err):.1f}), "
          f"within 50c {hit:.3f} (baseline {np.mean(b_err < 50):.3f})")


if __name__ == "__main__":
    main()
