"""Railway track geometry: spot wet-spot dips in the longitudinal level.

Each window is 64 samples (0.5 m spacing) of the vertical level of the left
and right rail in mm, laid out channels-last (N, L, C) as mlx Conv1d wants.
A 1-D convolutional DENOISING autoencoder is trained on healthy track only.
The input noise grows from 0 to 1.2 mm over the first 30% of the steps
(curriculum), so the reconstruction loss first RISES, then falls again.
After training, an alarm threshold is set at the 99th percentile of the
per-window peak reconstruction error on healthy calibration windows, and
dips injected into a test set are detected.

The optimiser is Nesterov momentum written by hand over tree_map (lr held
constant during the ramp, then cosine-decayed). recon_mse is the windowed
mean training loss on NOISY inputs; clean_mse reconstructs clean windows.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

L = 64


def healthy_track(n, rng):
    pos = np.arange(L, dtype=np.float64) * 0.5                     # metres
    out = np.zeros((n, L, 2))
    for _ in range(3):                                             # long waves
        wl = rng.uniform(8.0, 35.0, (n, 1))
        ph = rng.uniform(0, 2 * np.pi, (n, 1))
        amp = rng.uniform(0.4, 1.6, (n, 1))
        common = amp * np.sin(2 * np.pi * pos[None, :] / wl + ph)
        out += common[..., None]
    cross = rng.normal(0, 0.35, (n, 1, 1)) * np.sin(
        2 * np.pi * pos[None, :, None] / rng.uniform(10, 30, (n, 1, 1))
        + np.array([0.0, 0.6])[None, None, :])
    out += cross
    out += rng.normal(0, 0.12, out.shape)                          # sensor noise
    return out


def inject_dips(x, rng, share):
    x = x.copy()
    n = x.shape[0]
    bad = rng.uniform(size=n) < share
    for i in np.where(bad)[0]:
        c = rng.integers(0, 2)
        centre = rng.uniform(8, L - 8)
        width = rng.uniform(1.5, 3.0)
        depth = rng.uniform(2.0, 5.0)
        x[i, :, c] -= depth * np.exp(-0.5 * ((np.arange(L) - centre) / width) ** 2)
    return x, bad


class TrackDAE(nn.Module):
    def __init__(self, ch=16, code=8):
        super().__init__()
        self.e1 = nn.Conv1d(2, ch, 5, padding=2)
        self.e2 = nn.Conv1d(ch, ch, 5, stride=2, padding=2)        # 64 -> 32
        self.e3 = nn.Conv1d(ch, code, 5, stride=2, padding=2)      # 32 -> 16
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.d1 = nn.Conv1d(code, ch, 5, padding=2)
        self.d2 = nn.Conv1d(ch, ch, 5, padding=2)
        self.d3 = nn.Conv1d(ch, 2, 5, padding=2)

    def __call__(self, x):
        h = nn.relu(self.e1(x))
        h = nn.relu(self.e2(h))
        h = self.e3(h)
        h = nn.relu(self.d1(self.up(h)))
        h = nn.relu(self.d2(self.up(h)))
        return self.d3(h)


def recon_loss(model, noisy, clean):
    return mx.mean(mx.square(model(noisy) - clean))


def peak_error(model, x, bs=500):
    out = []
    for i in range(0, x.shape[0], bs):
        xb = mx.array(x[i:i + bs].astype(np.float32))
        err = mx.max(mx.abs(model(xb) - xb), axis=(1, 2))
        out.append(np.array(err))
    return np.concatenate(out)


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(7)
    train = healthy_track(6000, rng).astype(np.float32)
    calib = healthy_track(1000, rng)
    test, is_bad = inject_dips(healthy_track(2000, rng), rng, share=0.1)
    print(f"[track-ae] windows: train {len(train)} healthy, calib {len(calib)} healthy, "
          f"test {len(test)} with {is_bad.sum()} injected dips ({is_bad.mean():.1%})")

    mx.random.seed(5)
    model = TrackDAE()
    mx.eval(model.parameters())
    n_par = sum(v.size for _, v in tree_flatten(model.parameters()))
    loss_and_grad = nn.value_and_grad(model, recon_loss)

    xb = mx.array(train[:64])
    _, g = loss_and_grad(model, xb + 0.5 * mx.random.normal(xb.shape), xb)
    flat = tree_flatten(g)
    nz = sum(1 for _, v in flat if mx.max(mx.abs(v)).item() > 0)
    print(f"[track-ae] {n_par} parameters; gradient check: {nz}/{len(flat)} leaves non-zero")

    steps, bs = 700, 64
    ramp_steps = int(0.3 * steps)
    sigma_max = 1.2
    lr_max, lr_min, mu = 0.02, 0.002, 0.9
    velocity = tree_map(mx.zeros_like, model.trainable_parameters())

    cursor, order = 0, rng.permutation(len(train))
    window = []
    print(f"[track-ae] {'step':>5} {'sigma_mm':>8} {'lr':>7} {'recon_mse':>10} {'clean_mse':>10} {'secs':>6}")
    for step in range(1, steps + 1):
        if cursor + bs > len(train):
            cursor, order = 0, rng.permutation(len(train))
        clean = mx.array(train[order[cursor:cursor + bs]])
        cursor += bs
        sigma = sigma_max * min(1.0, step / ramp_steps)
        noisy = clean + sigma * mx.random.normal(clean.shape)

        # constant lr during the noise ramp, then cosine decay to lr_min
        frac = max(0.0, (step - ramp_steps) / (steps - ramp_steps))
        lr = lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * frac))

        loss, grads = loss_and_grad(model, noisy, clean)
        # hand-written Nesterov momentum: v <- mu v + g ; w <- w - lr (g + mu v)
        velocity = tree_map(lambda v, g: mu * v + g, velocity, grads)
        new_params = tree_map(lambda w, g, v: w - lr * (g + mu * v),
                              model.trainable_parameters(), grads, velocity)
        model.update(new_params)
        mx.eval(model.parameters(), velocity, loss)
        window.append(loss.item())

        if step == 1 or step % 50 == 0:
            probe = mx.array(calib[:400].astype(np.float32))
            clean_mse = recon_loss(model, probe, probe).item()
            print(f"[track-ae] {step:5d} {sigma:8.2f} {lr:7.4f} {np.mean(window):10.4f} "
                  f"{clean_mse:10.4f} {time.perf_counter() - t0:6.1f}")
            window = []

    thr = np.percentile(peak_error(model, calib), 99)
    score = peak_error(model, test)
    alarm = score > thr
    tp = np.sum(alarm & is_bad)
    precision = 100.0 * tp / max(1, alarm.sum())
    recall = 100.0 * tp / max(1, is_bad.sum())
    false_alarm = 100.0 * np.sum(alarm & ~is_bad) / max(1, (~is_bad).sum())
    print(f"[track-ae] alarm threshold (99th pct of healthy peak error): {thr:.2f} mm")
    print(f"[track-ae] test: precision {precision:.1f}%  recall {recall:.1f}%  "
          f"false alarms {false_alarm:.1f}% of healthy windows")
    print(f"[track-ae] done in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
