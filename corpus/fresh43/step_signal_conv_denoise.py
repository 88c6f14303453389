# Denoise piecewise-constant 1-D signals (random step functions, Gaussian noise
# sigma=0.35) with a small residual Conv1d net trained on L1 loss.
# Progress is printed as "[ NN%]" lines; the final report compares the output SNR
# against the noisy input and a sliding-median filter.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

L, SIGMA = 96, 0.35
rng = np.random.default_rng(5)


def step_signals(n):
    sig = np.zeros((n, L), np.float32)
    for i in range(n):
        cuts = np.sort(rng.choice(np.arange(4, L - 4), size=rng.integers(2, 7), replace=False))
        edges = np.concatenate([[0], cuts, [L]])
        for a, b in zip(edges[:-1], edges[1:]):
            sig[i, a:b] = rng.uniform(-1.5, 1.5)
    noisy = sig + SIGMA * rng.normal(size=sig.shape).astype(np.float32)
    return noisy[..., None], sig[..., None]  # NLC


class Denoiser(nn.Module):
    def __init__(self, ch=16):
        super().__init__()
        self.inp = nn.Conv1d(1, ch, 7, padding=3)
        self.mid = [nn.Conv1d(ch, ch, 5, padding=2) for _ in range(3)]
        self.outp = nn.Conv1d(ch, 1, 5, padding=2)

    def __call__(self, x):
        h = nn.relu(self.inp(x))
        for conv in self.mid:
            h = h + nn.relu(conv(h))
        return x - self.outp(h)  # predict the noise, subtract it


def l1(model, x, y):
    return mx.mean(mx.abs(model(x) - y))


def snr_db(est, ref):
    return 10 * np.log10((ref ** 2).sum() / ((est - ref) ** 2).sum())


def median_filter(x, w=7):
    pad = np.pad(x[..., 0], ((0, 0), (w // 2, w // 2)), mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(pad, w, axis=1)
    return np.median(win, axis=-1)[..., None]


STEPS, BATCH = 500, 32
x_test, y_test = step_signals(256)

model = Denoiser()
mx.eval(model.parameters())
sched = optim.step_decay(2e-3, 0.5, 170)
optimizer = optim.RMSprop(learning_rate=sched, alpha=0.95)
vg = nn.value_and_grad(model, l1)

xb, yb = step_signals(BATCH)
_, g0 = vg(model, mx.array(xb), mx.array(yb))
dead = [k for k, g in tree_flatten(g0) if float(mx.abs(g).sum()) == 0]
assert not dead, dead
print(f"{len(tree_flatten(g0))} parameter leaves, all with non-zero first-step gradient")

t0 = time.time()
recent = []
for step in range(1, STEPS + 1):
    xb, yb = step_signals(BATCH)
    loss, grads = vg(model, mx.array(xb), mx.array(yb))
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    recent.append(loss.item())
    recent = recent[-50:]
    if step % (STEPS // 10) == 0:
        pred = np.array(model(mx.array(x_test)))
        print(f"[{100 * step // STEPS:3d}%] step {step:4d}  l1(avg50) {np.mean(recent):.4f}  "
              f"test SNR {snr_db(pred, y_test):5.2f} dB  lr {optimizer.learning_rate.item():.1e}  "
              f"{time.time() - t0:4.1f}s")

pred = np.array(model(mx.array(x_test)))
print(f"test SNR: noisy input {snr_db(x_test, y_test):.2f} dB | median(7) {snr_db(median_filter(x_test), y_test):.2f} dB"
      f" | conv denoiser {snr_db(pred, y_test):.2f} dB")
