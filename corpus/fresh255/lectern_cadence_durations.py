"""Phoneme duration predictor for a small TTS front-end (FastSpeech-style variance predictor).

Synthetic corpus: utterances of 6-28 phonemes drawn from a 40-symbol inventory. Each phoneme
has an intrinsic length; neighbours (stressed vowel after a stop, phrase-final lengthening)
and a per-utterance speaking rate change it; log-normal jitter (sd 0.15) is the noise floor.
Targets are log(1 + frames). Padded positions are masked out of the loss.

The run is split in two sessions: session A trains with a linear warm-up that starts at an
lr of exactly 0, writes a checkpoint (weights + optimizer state + step), and session B builds
fresh objects, restores the checkpoint and continues from the saved step.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

VOCAB = 40
PAD = 0
MAXLEN = 28
NOISE_SD = 0.15
BATCH = 32
WARMUP = 60
LR = 4e-3
SESSION_A = 180
SESSION_B = 180


def make_corpus(n, rng, base, kind):
    toks = np.zeros((n, MAXLEN), dtype=np.int32)
    logdur = np.zeros((n, MAXLEN), dtype=np.float32)
    mask = np.zeros((n, MAXLEN), dtype=np.float32)
    for i in range(n):
        L = rng.integers(6, MAXLEN + 1)
        seq = rng.integers(1, VOCAB, size=L)
        rate = rng.uniform(0.8, 1.25)
        frames = base[seq] / rate
        after_stop = np.r_[False, kind[seq[:-1]] == 1] & (kind[seq] == 2)
        frames = frames * np.where(after_stop, 1.35, 1.0)
        frames[-2:] *= 1.5                                  # phrase-final lengthening
        frames = frames * np.exp(NOISE_SD * rng.standard_normal(L))
        toks[i, :L] = seq
        logdur[i, :L] = np.log1p(frames)
        mask[i, :L] = 1.0
    return mx.array(toks), mx.array(logdur), mx.array(mask)


class DurationPredictor(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, dim)
        self.conv1 = nn.Conv1d(dim, dim, 3, padding=1)
        self.norm1 = nn.LayerNorm(dim)
        self.conv2 = nn.Conv1d(dim, dim, 3, padding=1)
        self.norm2 = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, 1)

    def __call__(self, toks, mask):
        x = self.emb(toks) * mask[..., None]
        x = self.norm1(nn.relu(self.conv1(x))) * mask[..., None]
        x = self.norm2(nn.relu(self.conv2(x))) * mask[..., None]
        return self.proj(x)[..., 0] * mask


def masked_mse(model, toks, y, mask):
    pred = model(toks, mask)
    return mx.sum(((pred - y) ** 2) * mask) / mx.sum(mask)


def frame_error_pct(pred_log, y, mask):
    """Relative error of total utterance length in frames, in percent."""
    f_pred = mx.sum((mx.exp(pred_log) - 1.0) * mask, axis=1)
    f_true = mx.sum((mx.exp(y) - 1.0) * mask, axis=1)
    return (mx.mean(mx.abs(f_pred - f_true) / f_true) * 100).item()


def schedule():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, LR, WARMUP), optim.cosine_decay(LR, SESSION_A + SESSION_B - WARMUP, 1e-4)],
        [WARMUP])


def run_session(model, opt, data, start, stop, rng, out):
    tr_t, tr_y, tr_m, va_t, va_y, va_m = data
    step_fn = nn.value_and_grad(model, masked_mse)
    n = tr_t.shape[0]
    window = []
    for step in range(start, stop):
        idx = mx.array(rng.choice(n, BATCH, replace=False))
        lr_used = float(opt.learning_rate)
        loss, grads = step_fn(model, tr_t[idx], tr_y[idx], tr_m[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if (step + 1) % 30 == 0:
            pred = model(va_t, va_m)
            va = (mx.sum(((pred - va_y) ** 2) * va_m) / mx.sum(va_m)).item()
            out(f"{step + 1}\t{lr_used:.2e}\t{np.mean(window):.4f}\t{va:.4f}\t"
                f"{frame_error_pct(pred, va_y, va_m):.2f}")
            window = []


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    base = rng.uniform(2.0, 14.0, size=VOCAB).astype(np.float32)
    kind = rng.integers(0, 3, size=VOCAB)                   # 0 other, 1 stop, 2 vowel
    tr = make_corpus(2000, rng, base, kind)
    va = make_corpus(500, rng, base, kind)
    data = (*tr, *va)
    print(f"# corpus: {tr[0].shape[0]} train / {va[0].shape[0]} val utterances, "
          f"{int(mx.sum(tr[2]).item())} train phonemes, noise floor mse ~{NOISE_SD ** 2:.4f}")

    # baseline: per-phoneme mean log-duration from the training set (no context)
    t_np, y_np, m_np = (np.array(a) for a in tr)
    sums = np.bincount(t_np[m_np > 0], weights=y_np[m_np > 0], minlength=VOCAB)
    cnts = np.bincount(t_np[m_np > 0], minlength=VOCAB)
    table = mx.array((sums / np.maximum(cnts, 1)).astype(np.float32))
    b_pred = table[va[0]] * va[2]
    b_mse = (mx.sum(((b_pred - va[1]) ** 2) * va[2]) / mx.sum(va[2])).item()
    b_fe = frame_error_pct(b_pred, va[1], va[2])
    print(f"# lookup-table baseline: val mse {b_mse:.4f}, total-length error {b_fe:.2f}%")

    print("step\tlr\ttrain_mse\tval_mse\tlen_err_pct")
    ckpt_dir = tempfile.mkdtemp()
    tic = time.perf_counter()

    # ---- session A -----------------------------------------------------------
    model = DurationPredictor()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=schedule())
    run_session(model, opt, data, 0, SESSION_A, rng, print)
    model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
    mx.save_safetensors(os.path.join(ckpt_dir, "optim.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(ckpt_dir, "meta.json"), "w") as f:
        json.dump({"step": SESSION_A}, f)
    print(f"# checkpoint written at step {SESSION_A} ({time.perf_counter() - tic:.1f}s); session ends")
    del model, opt

    # ---- session B: fresh objects, restore, continue ---------------------------
    model = DurationPredictor()
    model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
    opt = optim.Adam(learning_rate=schedule())
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "optim.safetensors")).items()))
    with open(os.path.join(ckpt_dir, "meta.json")) as f:
        start = json.load(f)["step"]
    mx.eval(model.parameters(), opt.state)
    print(f"# resumed at step {start}, optimizer step counter {int(opt.state['step'].item())}")
    run_session(model, opt, data, start, start + SESSION_B, rng, print)

    pred = model(va[0], va[2])
    va_mse = (mx.sum(((pred - va[1]) ** 2) * va[2]) / mx.sum(va[2])).item()
    print(f"# final: val mse {va_mse:.4f} (table {b_mse:.4f}, floor ~{NOISE_SD ** 2:.4f}), "
          f"total-length error {frame_error_pct(pred, va[1], va[2]):.2f}% (table {b_fe:.2f}%), "
          f"{time.perf_counter() - tic:.1f}s")


if __name__ == "__main__":
    main()
