"""Barn-dance recordings: pull a fiddle line out of barn noise (generator hum,
livestock rumble, crowd chatter) with a tiny time-domain masking network.

Encoder Conv1d -> dilated frame-context mask net -> sigmoid mask -> ConvTranspose1d decoder.
Objective: negative scale-invariant SDR in dB, so the loss starts near the input SNR
and goes below zero as the separation improves.  The run is split in two sessions:
session 1 saves weights + optimizer state, session 2 rebuilds everything from disk
and carries on (as after a laptop reboot).
"""
import math
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SR = 8000
N = 512           # 64 ms clips
BATCH = 16
STEPS_1 = 150
STEPS_2 = 150
rng = np.random.default_rng(7)
t = np.arange(N) / SR


def fiddle(n):
    out = np.zeros((n, N), np.float32)
    for i in range(n):
        f0 = rng.uniform(196.0, 880.0)
        vib = rng.uniform(4.5, 7.0)
        depth = rng.uniform(0.002, 0.01)
        phase = 2 * np.pi * np.cumsum(f0 * (1 + depth * np.sin(2 * np.pi * vib * t))) / SR
        sig = np.zeros(N)
        for k in range(1, 7):
            sig += (0.8 ** k) * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
        att = rng.uniform(0.005, 0.03)
        env = np.minimum(1.0, t / att) * np.exp(-t * rng.uniform(0.5, 4.0))
        out[i] = sig * env
    return out


def barn_noise(n):
    out = np.zeros((n, N), np.float32)
    for i in range(n):
        hum_f = rng.choice([50.0, 60.0])
        hum = sum(np.sin(2 * np.pi * hum_f * k * t + rng.uniform(0, 6.28)) / k for k in (1, 2, 3))
        white = rng.normal(size=N)
        rumble = np.convolve(white, np.ones(40) / 40, mode="same") * 4.0
        chatter = np.convolve(rng.normal(size=N), np.hanning(9), mode="same") * rng.uniform(0.2, 0.6)
        chatter *= (np.sin(2 * np.pi * rng.uniform(3, 8) * t) > 0)
        out[i] = 0.6 * hum + rumble + chatter
    return out


def make_set(n):
    s = fiddle(n)
    v = barn_noise(n)
    snr_db = rng.uniform(-5.0, 5.0, size=(n, 1))
    ps = (s ** 2).mean(1, keepdims=True)
    pv = (v ** 2).mean(1, keepdims=True) + 1e-8
    v = v * np.sqrt(ps / (pv * 10 ** (snr_db / 10)))
    mix = s + v
    scale = np.abs(mix).max(1, keepdims=True) + 1e-8
    return (mix / scale).astype(np.float32), (s / scale).astype(np.float32)


def si_sdr(est, ref, eps=1e-8):
    est = est - est.mean(axis=-1, keepdims=True)
    ref = ref - ref.mean(axis=-1, keepdims=True)
    alpha = (est * ref).sum(-1, keepdims=True) / ((ref * ref).sum(-1, keepdims=True) + eps)
    target = alpha * ref
    noise = est - target
    ratio = (target * target).sum(-1) / ((noise * noise).sum(-1) + eps)
    return 10.0 * mx.log10(ratio + eps)


def shift(h, d):
    """Frame context: h[t - d] (d > 0) or h[t + |d|] (d < 0), zero at the edges."""
    if d > 0:
        return mx.pad(h[:, :-d], [(0, 0), (d, 0), (0, 0)])
    return mx.pad(h[:, -d:], [(0, 0), (0, -d), (0, 0)])


class MaskSeparator(nn.Module):
    def __init__(self, n_basis=32, kernel=16, hidden=32):
        super().__init__()
        self.encoder = nn.Conv1d(1, n_basis, kernel, stride=kernel // 2, bias=False)
        self.norm = nn.LayerNorm(n_basis)
        self.inp = nn.Linear(n_basis, hidden)
        self.dilations = (1, 2, 4, 8)
        self.blocks = [nn.Linear(3 * hidden, hidden) for _ in self.dilations]
        self.out = nn.Linear(hidden, n_basis)
        self.decoder = nn.ConvTranspose1d(n_basis, 1, kernel, stride=kernel // 2, bias=False)

    def __call__(self, mix):
        x = mix[..., None]                     # (B, N, 1) channels-last
        w = nn.relu(self.encoder(x))           # (B, F, n_basis)
        h = self.inp(self.norm(w))
        for d, blk in zip(self.dilations, self.blocks):
            ctx = mx.concatenate([shift(h, d), h, shift(h, -d)], axis=-1)
            h = h + nn.gelu(blk(ctx))
        mask = mx.sigmoid(self.out(h))
        y = self.decoder(w * mask)[..., 0]     # (B, N')
        if y.shape[-1] < mix.shape[-1]:
            y = mx.pad(y, [(0, 0), (0, mix.shape[-1] - y.shape[-1])])
        return y[:, : mix.shape[-1]]


def loss_fn(model, mix, src):
    return -si_sdr(model(mix), src).mean()


def lr_schedule(total):
    warm = 40
    return optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 1e-4)],
        [warm],
    )


def evaluate(model, mix, src):
    est = model(mix)
    out = si_sdr(est, src)
    base = si_sdr(mix, src)
    mx.eval(out, base)
    return out.mean().item(), base.mean().item()


def run_session(model, opt, train_mix, train_src, val_mix, val_src, first, last, tag):
    step_fn = nn.value_and_grad(model, loss_fn)
    n = train_mix.shape[0]
    t0 = time.time()
    for step in range(first, last):
        idx = mx.array(rng.integers(0, n, BATCH))
        loss, grads = step_fn(model, train_mix[idx], train_src[idx])
        grads, gnorm = optim.clip_grad_norm(grads, 5.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 30 == 0 or step == last - 1:
            lr = opt.learning_rate.item()
            print(f"[{tag}] step {step:4d}  lr {lr:.2e}  neg_si_sdr {loss.item():7.2f} dB  "
                  f"gnorm {gnorm.item():.2f}  ({time.time() - t0:.1f}s)")
    val, base = evaluate(model, val_mix, val_src)
    print(f"[{tag}] valid SI-SDR {val:6.2f} dB  (noisy input {base:6.2f} dB, "
          f"improvement {val - base:+.2f} dB)")
    return val


def main():
    mx.random.seed(0)
    tr_m, tr_s = make_set(800)
    va_m, va_s = make_set(120)
    tr_m, tr_s, va_m, va_s = map(mx.array, (tr_m, tr_s, va_m, va_s))
    total = STEPS_1 + STEPS_2

    model = MaskSeparator()
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"params {n_params}  train {tr_m.shape[0]} clips  valid {va_m.shape[0]} clips")
    opt = optim.Adam(learning_rate=lr_schedule(total))
    val0, base0 = evaluate(model, va_m, va_s)
    print(f"untrained valid SI-SDR {val0:6.2f} dB  (noisy input {base0:6.2f} dB)")

    run_session(model, opt, tr_m, tr_s, va_m, va_s, 0, STEPS_1, "session 1")

    ckdir = tempfile.mkdtemp()
    wpath = os.path.join(ckdir, "weights.safetensors")
    opath = os.path.join(ckdir, "optimizer.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    print(f"saved checkpoint after {STEPS_1} steps -> {ckdir}")
    del model, opt

    model = MaskSeparator()
    model.load_weights(wpath)
    opt = optim.Adam(learning_rate=lr_schedule(total))
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    print(f"resumed at optimizer step {opt.step.item()}")
    val_r, _ = evaluate(model, va_m, va_s)
    print(f"after reload valid SI-SDR {val_r:6.2f} dB")

    val = run_session(model, opt, tr_m, tr_s, va_m, va_s, STEPS_1, total, "session 2")
    print(f"final valid SI-SDR {val:.2f} dB vs noisy input {base0:.2f} dB")
    shutil.rmtree(ckdir)


if __name__ == "__main__":
    main()
