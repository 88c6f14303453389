"""Video frame interpolation: predict the middle frame of a 3-frame clip.

Clips are 10x10 frames with 1-2 Gaussian blobs moving on straight lines; the
middle frame carries sensor noise (sigma 0.05), so no model can get the MSE
against the noisy frame below about 0.0025. The net predicts a residual over the naive blend of the outer
frames plus one learned log-noise scale, and is trained on the Gaussian
negative log-likelihood (so the loss goes below zero). SGD with momentum on a
cosine schedule with warm restarts (3 cycles): the lr jumps back to its peak
at each restart, so the loss can bump up there. The blend baseline is printed beside the model.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

S = 10
NOISE = 0.05
CYCLE = 150
CYCLES = 3
BATCH = 64
LR_MAX = 0.05
LR_MIN = 1e-4

rng = np.random.default_rng(11)


def make_clips(n):
    ys, xs = np.meshgrid(np.arange(S, dtype=np.float32), np.arange(S, dtype=np.float32), indexing="ij")
    frames = np.zeros((n, 3, S, S), np.float32)
    for i in range(n):
        for _ in range(rng.integers(1, 3)):
            p0 = rng.uniform(2, S - 3, 2)
            v = rng.uniform(-1.6, 1.6, 2)
            w = rng.uniform(1.0, 1.8)
            a = rng.uniform(0.6, 1.0)
            for t in range(3):
                cy, cx = p0 + v * t
                frames[i, t] += a * np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * w * w))
    clean_mid = frames[:, 1].reshape(n, -1)
    noisy_mid = clean_mid + NOISE * rng.standard_normal(clean_mid.shape).astype(np.float32)
    outer = np.concatenate([frames[:, 0].reshape(n, -1), frames[:, 2].reshape(n, -1)], axis=1)
    return mx.array(outer), mx.array(noisy_mid), mx.array(clean_mid)


class Tweener(nn.Module):
    def __init__(self, hidden=128):
        super().__init__()
        self.l1 = nn.Linear(2 * S * S, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, S * S)
        self.log_sigma = mx.array([math.log(0.3)])

    def __call__(self, outer):
        blend = 0.5 * (outer[:, : S * S] + outer[:, S * S:])
        h = nn.relu(self.l1(outer))
        h = nn.relu(self.l2(h))
        return blend + self.out(h)


def nll(model, outer, target):
    mu = model(outer)
    ls = model.log_sigma
    return (ls + 0.5 * math.log(2 * math.pi) + 0.5 * (target - mu) ** 2 * mx.exp(-2 * ls)).mean()


def lr_at(step):
    t = (step % CYCLE) / CYCLE
    return LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * t))


def psnr(mse):
    return 10 * math.log10(1.0 / mse)


def main():
    mx.random.seed(5)
    tr_o, tr_y, _ = make_clips(4000)
    va_o, va_y, va_c = make_clips(500)
    blend = 0.5 * (va_o[:, : S * S] + va_o[:, S * S:])
    blend_mse = ((blend - va_c) ** 2).mean().item()
    print(f"val blend baseline: MSE vs clean {blend_mse:.5f}  PSNR {psnr(blend_mse):.2f} dB; "
          f"noise floor vs noisy target {NOISE ** 2:.5f}")

    model = Tweener()
    opt = optim.SGD(learning_rate=LR_MAX, momentum=0.9)
    step_fn = nn.value_and_grad(model, nll)
    t0 = time.time()
    step = 0
    for cycle in range(CYCLES):
        for _ in range(CYCLE):
            idx = mx.array(rng.integers(0, tr_o.shape[0], BATCH))
            opt.learning_rate = lr_at(step)
            loss, grads = step_fn(model, tr_o[idx], tr_y[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            if step % 25 == 0 or step % CYCLE == 1:
                pred = model(va_o)
                mse_c = ((pred - va_c) ** 2).mean().item()
                mse_n = ((pred - va_y) ** 2).mean().item()
                gain = psnr(mse_c) - psnr(blend_mse)
                print(f"cycle {cycle} step {step:4d} lr {lr_at(step - 1):.4f} nll {loss.item():+.4f} "
                      f"sigma {math.exp(model.log_sigma.item()):.4f} val mse(noisy) {mse_n:.5f} "
                      f"mse(clean) {mse_c:.5f} gain over blend {gain:+.2f} dB")
    pred = model(va_o)
    mse_c = ((pred - va_c) ** 2).mean().item()
    mse_n = ((pred - va_y) ** 2).mean().item()
    print(f"final: val mse vs noisy {mse_n:.5f} (floor {NOISE ** 2:.5f}), vs clean {mse_c:.5f}, "
          f"blend {blend_mse:.5f}; PSNR {psnr(mse_c):.2f} dB vs blend {psnr(blend_mse):.2f} dB; "
          f"learned sigma {math.exp(model.log_sigma.item()):.4f}  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
