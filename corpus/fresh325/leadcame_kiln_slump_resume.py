"""Stained-glass kiln log: slump depth (mm) of a fused panel from firing records.

Heteroscedastic regression (mean + log-variance head, Gaussian NLL).
Two parameter groups: AdamW with decay for 2-D weight matrices, plain Adam
(no decay) for biases and LayerNorm scales. Linear warm-up starting at an lr
of exactly 0, then cosine decay. The run is split in two sessions: session A
writes a checkpoint (weights + optimizer state + step) and exits its loop;
session B rebuilds everything from scratch, restores the checkpoint and
continues. A reference run that is never interrupted is trained alongside
and the two are compared at the end.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

FEATURES = ["peak_C", "hold_min", "ramp_C_per_h", "glass_mm", "layers",
            "span_mm", "shelf_primer", "coe_96"]


def make_data(n, rng):
    peak = rng.uniform(640, 820, n)
    hold = rng.uniform(0, 40, n)
    ramp = rng.uniform(80, 350, n)
    thick = rng.choice([2.0, 3.0, 4.0], n)
    layers = rng.integers(1, 4, n).astype(np.float64)
    span = rng.uniform(60, 300, n)
    primer = rng.integers(0, 2, n).astype(np.float64)
    coe = rng.integers(0, 2, n).astype(np.float64)
    heat = (peak - 640) / 60.0 + 0.03 * hold - 0.002 * (ramp - 200)
    soft = np.log1p(np.exp(heat - 1.0))
    mass = thick * layers
    depth = 2.2 * soft * (span / 150.0) ** 1.5 / np.sqrt(mass) + 0.4 * primer - 0.3 * coe
    noise_sd = 0.15 + 0.12 * soft
    y = depth + rng.normal(0, 1, n) * noise_sd
    X = np.stack([peak, hold, ramp, thick, layers, span, primer, coe], 1)
    return X.astype(np.float32), y.astype(np.float32)


class SlumpNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.n1 = nn.LayerNorm(width)
        self.mid = nn.Linear(width, width)
        self.n2 = nn.LayerNorm(width)
        self.mu = nn.Linear(width, 1)
        self.logvar = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.n1(self.inp(x)))
        h = h + nn.silu(self.n2(self.mid(h)))
        return self.mu(h).squeeze(-1), self.logvar(h).squeeze(-1)


def gauss_nll(model, x, y):
    mu, lv = model(x)
    lv = mx.clip(lv, -8.0, 6.0)
    return mx.mean(0.5 * (lv + (y - mu) ** 2 * mx.exp(-lv)))


def decays(path, p):
    return p.ndim == 2


WARM, TOTAL, BATCH = 150, 1800, 128
PEAK_LR = 3e-3


def schedule():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARM),
         optim.cosine_decay(PEAK_LR, TOTAL - WARM, 3e-5)],
        [WARM])


def build(seed):
    mx.random.seed(seed)
    model = SlumpNet(len(FEATURES))
    opt = optim.MultiOptimizer(
        [optim.AdamW(learning_rate=schedule(), betas=[0.9, 0.95], eps=1e-8,
                     weight_decay=0.05, bias_correction=True),
         optim.Adam(learning_rate=schedule(), betas=[0.9, 0.95], eps=1e-8,
                    bias_correction=True)],
        [decays])
    mx.eval(model.parameters())
    return model, opt


def make_step(model, opt):
    vg = nn.value_and_grad(model, gauss_nll)

    def step(x, y):
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        return loss
    return step


def batches(n_train, seed):
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(n_train)
        for i in range(0, n_train - BATCH + 1, BATCH):
            yield perm[i:i + BATCH]


def evaluate(model, x, y):
    mu, lv = model(x)
    nll = gauss_nll(model, x, y)
    mae = mx.mean(mx.abs(mu - y))
    z = (y - mu) * mx.exp(-0.5 * mx.clip(lv, -8.0, 6.0))
    cover = mx.mean((mx.abs(z) < 1.6449).astype(mx.float32))
    mx.eval(nll, mae, cover)
    return nll.item(), mae.item(), cover.item()


def save_ckpt(path, model, opt, step_idx):
    flat = dict(tree_flatten(model.parameters()))
    flat.update({"opt." + k: v for k, v in tree_flatten(opt.state)})
    flat["meta.step"] = mx.array(step_idx)
    mx.save_safetensors(path, flat)


def load_ckpt(path, model, opt):
    flat = mx.load(path)
    params = [(k, v) for k, v in flat.items() if not k.startswith(("opt.", "meta."))]
    model.update(tree_unflatten(params))
    ost = [(k[4:], v) for k, v in flat.items() if k.startswith("opt.")]
    opt.state = tree_unflatten(ost)
    mx.eval(model.parameters(), opt.state)
    return int(flat["meta.step"].item())


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    Xtr, ytr = make_data(9000, rng)
    Xva, yva = make_data(2000, rng)
    mean, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    xtr = mx.array((Xtr - mean) / sd)
    xva = mx.array((Xva - mean) / sd)
    ytr_m, yva_m = mx.array(ytr), mx.array(yva)

    base_mae = float(np.mean(np.abs(yva - np.median(ytr))))
    base_nll = float(0.5 * (np.log(ytr.var()) + np.mean((yva - ytr.mean()) ** 2) / ytr.var()))
    print(f"kiln log: {len(ytr)} train / {len(yva)} valid firings, {len(FEATURES)} readings")
    print(f"reference (train median / train gaussian): valid MAE {base_mae:.3f} mm, valid NLL {base_nll:.3f}")

    ref_model, ref_opt = build(11)
    ref_step = make_step(ref_model, ref_opt)
    model, opt = build(11)
    step = make_step(model, opt)

    w_before = np.array(model.mid.weight)
    ckpt = os.path.join(tempfile.mkdtemp(None, "kiln_"), "session_a.safetensors")
    split = 900
    feed_ref = batches(len(ytr), 3)
    feed = batches(len(ytr), 3)

    print("-- session A")
    for it in range(TOTAL):
        idx = mx.array(next(feed_ref))
        rl = ref_step(xtr[idx], ytr_m[idx])
        mx.eval(ref_model.parameters(), ref_opt.state, rl)
        if it < split:
            idx_a = mx.array(next(feed))
            la = step(xtr[idx_a], ytr_m[idx_a])
            mx.eval(model.parameters(), opt.state, la)
            if it == 0:
                moved = float(np.abs(np.array(model.mid.weight) - w_before).max())
                print(f"step    1  lr {opt.optimizers[0].learning_rate.item():.2e}  first update size {moved:.1e} (warm-up starts at 0)")
            if (it + 1) % 300 == 0:
                nll, mae, cov = evaluate(model, xva, yva_m)
                lr = opt.optimizers[0].learning_rate.item()
                print(f"step {it + 1:4d}  lr {lr:.2e}  train nll {la.item():+.3f}  "
                      f"valid nll {nll:+.3f}  MAE {mae:.3f} mm  90%-band {100 * cov:.1f}%")
            if it + 1 == split:
                save_ckpt(ckpt, model, opt, it + 1)
                print(f"checkpoint written after step {it + 1} ({os.path.getsize(ckpt) // 1024} KiB)")
                del model, opt, step
                # session B: fresh objects, different init seed, then restore
                model, opt = build(999)
                step = make_step(model, opt)
                start = load_ckpt(ckpt, model, opt)
                feed = batches(len(ytr), 3)
                for _ in range(start):
                    next(feed)
                print(f"-- session B (restored at step {start}, lr "
                      f"{opt.optimizers[0].learning_rate.item():.2e})")
        else:
            idx_b = mx.array(next(feed))
            lb = step(xtr[idx_b], ytr_m[idx_b])
            mx.eval(model.parameters(), opt.state, lb)
            if (it + 1) % 300 == 0:
                nll, mae, cov = evaluate(model, xva, yva_m)
                lr = opt.optimizers[0].learning_rate.item()
                print(f"step {it + 1:4d}  lr {lr:.2e}  train nll {lb.item():+.3f}  "
                      f"valid nll {nll:+.3f}  MAE {mae:.3f} mm  90%-band {100 * cov:.1f}%")

    nll, mae, cov = evaluate(model, xva, yva_m)
    rnll, rmae, rcov = evaluate(ref_model, xva, yva_m)
    gap = max(float(mx.max(mx.abs(a - b)).item()) for (_, a), (_, b) in
              zip(tree_flatten(model.parameters()), tree_flatten(ref_model.parameters())))
    ln_scale = float(mx.mean(model.n1.weight).item())
    w_rms = float(mx.sqrt(mx.mean(model.mid.weight ** 2)).item())
    print(f"resumed run    : valid nll {nll:+.3f}  MAE {mae:.3f} mm  90%-band {100 * cov:.1f}%")
    print(f"uninterrupted  : valid nll {rnll:+.3f}  MAE {rmae:.3f} mm  90%-band {100 * rcov:.1f}%")
    print(f"max |param gap| resumed vs uninterrupted: {gap:.2e}")
    print(f"LayerNorm scale mean {ln_scale:.3f} (no decay group), mid weight rms {w_rms:.3f} (decay group)")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
