"""Garment workshop: tell a sewing machine's state from a 0.25 s microphone clip.

States: 0 = clean stitching, 1 = skipped stitches, 2 = thread jam (motor labours).
Raw audio goes through an in-model log-mel front end (hann, rfft, triangular mel
filters, per-clip mean removal), then a small Conv1d over time.
Training: Adam, lr warm-up from exactly 0 then cosine, 4 micro-batches are summed
before each optimizer update, and the run is split into two sessions with a
checkpoint written and restored in between.  Output is CSV.
"""

import json
import os
import sys
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map, tree_unflatten

SR = 8000
CLIP = 2048
N_FFT = 256
HOP = 128
N_MELS = 24
MICRO = 32
ACCUM = 4
EPOCHS_A = 4
EPOCHS_B = 5
PEAK_LR = 2e-3
WARM = 30


def render(rng, n):
    t = np.arange(CLIP) / SR
    y = rng.integers(0, 3, size=n)
    spm = rng.uniform(8, 16, size=(n, 1))  # stitches per second
    motor_f = rng.uniform(90, 130, size=(n, 1))
    x = 0.3 * np.sin(2 * np.pi * motor_f * t) + 0.15 * np.sin(2 * np.pi * 2 * motor_f * t)
    phase = (t[None, :] * spm) % 1.0
    click = np.exp(-phase * 60.0) * np.sin(2 * np.pi * 2400 * t)
    keep = np.ones_like(click)
    skip = y == 1
    if skip.any():
        stitch_idx = np.floor(t[None, :] * spm[skip]).astype(int)
        dropped = (stitch_idx % 3) == 1
        keep[skip] = np.where(dropped, 0.05, 1.0)
    x = x + 0.8 * click * keep
    jam = y == 2
    if jam.any():
        labour = rng.uniform(0.4, 0.8, size=(jam.sum(), 1))
        grind = rng.standard_normal((jam.sum(), CLIP))
        f = motor_f[jam] * 0.75
        x[jam] = (0.45 * np.sin(2 * np.pi * f * t) + 0.25 * np.sin(2 * np.pi * 3 * f * t)
                  + labour * 0.35 * grind * (np.sin(2 * np.pi * 5 * t) > 0)) + 0.4 * click[jam]
    x = x + rng.uniform(0.05, 0.35, size=(n, 1)) * rng.standard_normal((n, CLIP))
    x = x * rng.uniform(0.3, 1.5, size=(n, 1))
    flip = rng.random(n) < 0.04
    y = np.where(flip, rng.integers(0, 3, size=n), y)
    return x.astype(np.float32), y.astype(np.int32)


def mel_filters(n_mels=N_MELS):
    def hz2mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel2hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    bins = np.linspace(0, SR / 2, N_FFT // 2 + 1)
    pts = mel2hz(np.linspace(hz2mel(50.0), hz2mel(SR / 2), n_mels + 2))
    fb = np.zeros((N_FFT // 2 + 1, n_mels), dtype=np.float32)
    for m in range(n_mels):
        lo, mid, hi = pts[m], pts[m + 1], pts[m + 2]
        up = (bins - lo) / (mid - lo)
        down = (hi - bins) / (hi - mid)
        fb[:, m] = np.clip(np.minimum(up, down), 0, None)
    return fb


class LogMel(nn.Module):
    def __init__(self):
        super().__init__()
        n_frames = 1 + (CLIP - N_FFT) // HOP
        self._idx = mx.arange(N_FFT)[None, :] + HOP * mx.arange(n_frames)[:, None]
        self._win = mx.array(np.hanning(N_FFT + 1)[:-1].astype(np.float32))
        self._fb = mx.array(mel_filters())

    def __call__(self, audio):
        frames = audio[:, self._idx] * self._win
        power = mx.abs(mx.fft.rfft(frames, axis=-1)) ** 2
        logmel = mx.log(power @ self._fb + 1e-6)
        return logmel - mx.mean(logmel, axis=1, keepdims=True)


class StitchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.front = LogMel()
        self.c1 = nn.Conv1d(N_MELS, 32, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(32, 32, kernel_size=3, padding=1)
        self.norm = nn.LayerNorm(64)
        self.head = nn.Linear(64, 3)

    def __call__(self, audio):
        h = self.front(audio)
        h = nn.gelu(self.c1(h))
        h = h + nn.gelu(self.c2(h))
        pooled = mx.concatenate([mx.mean(h, axis=1), mx.max(h, axis=1)], axis=-1)
        return self.head(self.norm(pooled))


def ce(model, x, y):
    return mx.mean(nn.losses.cross_entropy(model(x), y))


def make_opt(total_updates):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARM), optim.cosine_decay(PEAK_LR, total_updates - WARM, 1e-5)],
        [WARM],
    )
    return optim.Adam(learning_rate=sched)


def evaluate(model, x, y, chunk=256):
    tot_loss, tot_hit = 0.0, 0.0
    for i in range(0, x.shape[0], chunk):
        logits = model(x[i:i + chunk])
        loss = mx.sum(nn.losses.cross_entropy(logits, y[i:i + chunk]))
        hit = mx.sum(mx.argmax(logits, axis=-1) == y[i:i + chunk])
        mx.eval(loss, hit)
        tot_loss += float(loss)
        tot_hit += float(hit)
    return tot_loss / x.shape[0], 100.0 * tot_hit / x.shape[0]


def run_epochs(session, model, opt, vg, xtr, ytr, xva, yva, rng, first_epoch, last_epoch, base, t0):
    n_per_update = MICRO * ACCUM
    updates_per_epoch = len(xtr) // n_per_update
    for epoch in range(first_epoch, last_epoch + 1):
        perm = rng.permutation(len(xtr))
        tot, cnt = 0.0, 0
        for u in range(updates_per_epoch):
            acc_grads = None
            for m in range(ACCUM):
                sl = perm[(u * ACCUM + m) * MICRO:(u * ACCUM + m + 1) * MICRO]
                loss, g = vg(model, xtr[mx.array(sl)], ytr[mx.array(sl)])
                acc_grads = g if acc_grads is None else tree_map(mx.add, acc_grads, g)
                tot += float(loss)
                cnt += 1
            acc_grads = tree_map(lambda a: a / ACCUM, acc_grads)
            lr_used = float(opt.learning_rate)
            opt.update(model, acc_grads)
            mx.eval(model.parameters(), opt.state)
        val_ce, val_acc = evaluate(model, xva, yva)
        print(f"{session},{epoch},{int(opt.step)},{lr_used:.3e},{tot / cnt:.4f},{val_ce:.4f},"
              f"{val_acc:.1f},{base:.1f},{time.time() - t0:.1f}")
        sys.stdout.flush()


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    xtr_np, ytr_np = render(rng, 3072)
    xva_np, yva_np = render(rng, 1024)
    xtr, ytr = mx.array(xtr_np), mx.array(ytr_np)
    xva, yva = mx.array(xva_np), mx.array(yva_np)
    base = 100.0 * np.max(np.bincount(yva_np, minlength=3)) / len(yva_np)
    updates_per_epoch = len(xtr_np) // (MICRO * ACCUM)
    total_updates = updates_per_epoch * (EPOCHS_A + EPOCHS_B)

    model = StitchNet()
    mx.eval(model.parameters())
    opt = make_opt(total_updates)
    vg = nn.value_and_grad(model, ce)

    loss0, g0 = vg(model, xtr[:MICRO], ytr[:MICRO])
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if float(mx.max(mx.abs(v))) == 0.0]
    print(f"# grad_check leaves={len(leaves)} zero={zero or 'none'} ce0={float(loss0):.3f} ln3={np.log(3):.3f}")
    print(f"# data train={len(xtr_np)} valid={len(xva_np)} updates_per_epoch={updates_per_epoch} "
          f"micro={MICRO} accum={ACCUM}")
    print("session,epoch,opt_step,lr_last,train_ce,val_ce,val_acc_pct,majority_pct,secs")
    v_ce, v_acc = evaluate(model, xva, yva)
    print(f"A,0,0,{0.0:.3e},,{v_ce:.4f},{v_acc:.1f},{base:.1f},{time.time() - t0:.1f}")

    run_epochs("A", model, opt, vg, xtr, ytr, xva, yva, rng, 1, EPOCHS_A, base, t0)

    ckpt = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckpt, "model.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(ckpt, "meta.json"), "w") as f:
        json.dump({"epoch": EPOCHS_A, "rng": rng.bit_generator.state}, f)
    ref = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
    del model, opt, vg
    print(f"# checkpoint_written dir={ckpt}")

    model = StitchNet()
    model.load_weights(os.path.join(ckpt, "model.safetensors"))
    opt = make_opt(total_updates)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
    with open(os.path.join(ckpt, "meta.json")) as f:
        meta = json.load(f)
    rng = np.random.default_rng()
    rng.bit_generator.state = meta["rng"]
    vg = nn.value_and_grad(model, ce)
    diff = max(float(np.max(np.abs(np.array(v) - ref[k]))) for k, v in tree_flatten(model.parameters()))
    print(f"# resumed epoch={meta['epoch']} opt_step={int(opt.step)} max_weight_diff={diff:.1e}")

    run_epochs("B", model, opt, vg, xtr, ytr, xva, yva, rng, meta["epoch"] + 1, EPOCHS_A + EPOCHS_B, base, t0)
    v_ce, v_acc = evaluate(model, xva, yva)
    print(f"# done val_acc_pct={v_acc:.1f} majority_pct={base:.1f} label_flip_rate_pct=4.0 secs={time.time() - t0:.1f}")


if __name__ == "__main__":
    main()
