"""Mosquito trap microphone: genus from wingbeat recordings of varying length.

Three genera (Aedes / Anopheles / Culex) differ in wingbeat fundamental and harmonic
balance. Recordings are 0.4-1.2 s long; training uses random 0.4 s crops, evaluation
averages the logits of three crops per recording.

Stage "clean": quiet lab recordings. Stage "field": the same insects under trap-fan and
rain noise with mixup on, so the training loss steps up when the stage changes.
The run checkpoints after the clean stage, rebuilds the model and optimizer from disk
and continues from there.
"""
import os
import shutil
import tempfile
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SR = 3000
CROP_S = 1200           # 0.4 s
N_FFT = 96
HOP = 48
N_MELS = 16
GENERA = ["aedes", "anopheles", "culex"]
F0 = {0: (560, 640), 1: (430, 500), 2: (360, 430)}
HARM = {0: (1.0, 0.5, 0.3), 1: (1.0, 0.8, 0.15), 2: (1.0, 0.35, 0.45)}

rng = np.random.default_rng(3)
mx.random.seed(3)


def recording(c, r):
    n = int(r.uniform(0.4, 1.2) * SR)
    t = np.arange(n) / SR
    f0 = r.uniform(*F0[c]) * (1 + 0.03 * np.sin(2 * np.pi * r.uniform(1, 4) * t))
    ph = 2 * np.pi * np.cumsum(f0) / SR
    y = sum(a * np.sin(k * ph) for k, a in zip((1, 2, 3), HARM[c]))
    y *= np.clip(0.6 + 0.4 * np.sin(2 * np.pi * r.uniform(0.5, 2) * t + r.uniform(0, 6)), 0.2, 1)
    return y


def field_noise(n, r):
    t = np.arange(n) / SR
    fan = 0.9 * np.sin(2 * np.pi * r.uniform(140, 260) * t) + 0.5 * np.sin(2 * np.pi * r.uniform(280, 520) * t)
    rain = r.normal(size=n) * r.uniform(0.6, 1.4)
    drops = np.zeros(n)
    for _ in range(r.integers(2, 10)):
        s = r.integers(0, n - 20)
        drops[s:s + 20] += r.uniform(1, 3) * np.exp(-np.arange(20) / 4.0)
    return fan + rain + drops


def mel_bank():
    h2m = lambda f: 2595 * np.log10(1 + f / 700)
    m2h = lambda m: 700 * (10 ** (m / 2595) - 1)
    pts = m2h(np.linspace(h2m(80), h2m(SR / 2), N_MELS + 2))
    bins = np.fft.rfftfreq(N_FFT, 1 / SR)
    fb = np.zeros((N_MELS, len(bins)))
    for m in range(N_MELS):
        lo, mid, hi = pts[m], pts[m + 1], pts[m + 2]
        fb[m] = np.clip(np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)), 0, None)
    return fb


FB = mel_bank()
WIN = np.hanning(N_FFT)


def logmel(y):
    nf = 1 + (len(y) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(nf)[:, None]
    return np.log((np.abs(np.fft.rfft(y[idx] * WIN, axis=1)) ** 2) @ FB.T + 1e-5).astype(np.float32)


def make_set(n, noisy, r):
    ys = r.integers(0, 3, size=n)
    waves = []
    for c in ys:
        w = recording(int(c), r)
        if noisy:
            w = w + field_noise(len(w), r)
        else:
            w = w + 0.05 * r.normal(size=len(w))
        waves.append(w)
    return waves, ys.astype(np.int32)


def crop(w, r, pos=None):
    if pos is None:
        s = r.integers(0, len(w) - CROP_S + 1)
    else:
        s = int(pos * (len(w) - CROP_S))
    return w[s:s + CROP_S]


t0 = time.time()
clean_w, clean_y = make_set(900, False, rng)
field_w, field_y = make_set(900, True, rng)
test_w, test_y = make_set(450, True, rng)
ref = np.stack([logmel(crop(w, rng)) for w in clean_w[:300]])
MU, SD = ref.mean(axis=(0, 1)), ref.std(axis=(0, 1)) + 1e-4
norm = lambda f: (f - MU) / SD
print(f"wingbeat | data  clean {len(clean_w)}  field {len(field_w)}  test {len(test_w)} recordings  "
      f"lengths {min(len(w) for w in test_w) / SR:.2f}-{max(len(w) for w in test_w) / SR:.2f}s  ({time.time() - t0:.1f}s)")


class WingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(N_MELS, 32, 3, padding=1)
        self.c2 = nn.Conv1d(32, 32, 3, padding=2, dilation=2)
        self.ln = nn.LayerNorm(64)
        self.out = nn.Linear(64, 3)

    def __call__(self, x):
        h = nn.silu(self.c1(x))
        h = h + nn.silu(self.c2(h))
        z = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.out(self.ln(z))


def soft_ce(logits, target):
    return -(target * nn.log_softmax(logits, axis=-1)).sum(axis=-1).mean()


def batch(waves, ys, idx, r, mix):
    x = np.stack([norm(logmel(crop(waves[i], r))) for i in idx])
    t = np.eye(3, dtype=np.float32)[ys[idx]]
    if mix:
        lam = r.beta(0.4, 0.4, size=(len(idx), 1)).astype(np.float32)
        p = r.permutation(len(idx))
        x = lam[:, :, None] * x + (1 - lam[:, :, None]) * x[p]
        t = lam * t + (1 - lam) * t[p]
    return mx.array(x), mx.array(t)


def evaluate(m, waves, ys):
    xs = [np.stack([norm(logmel(crop(w, None, pos))) for w in waves]) for pos in (0.0, 0.5, 1.0)]
    logits = sum(m(mx.array(x)) for x in xs) / 3.0
    p = np.array(mx.argmax(logits, axis=1))
    single = np.array(mx.argmax(m(mx.array(xs[1])), axis=1))
    rec = [np.mean(p[ys == c] == c) for c in range(3)]
    return 100 * np.mean(p == ys), 100 * np.mean(single == ys), 100 * min(rec)


def build(lr_sched):
    m = WingNet()
    o = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-3)
    return m, o


def make_step(m, o):
    lvg = nn.value_and_grad(m, lambda mm, x, t: soft_ce(mm(x), t))
    state = [m.state, o.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, t):
        loss, g = lvg(m, x, t)
        o.update(m, g)
        return loss

    return step


BATCH = 48
def stage_sched(steps, peak):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, 30), optim.cosine_decay(peak, steps - 30, 1e-5)], [30])


def run_stage(name, m, o, waves, ys, epochs, mix, r, first_epoch=1):
    step = make_step(m, o)
    nb = len(waves) // BATCH
    for ep in range(first_epoch, first_epoch + epochs):
        perm = r.permutation(len(waves))
        tot = 0.0
        for b in range(nb):
            x, t = batch(waves, ys, perm[b * BATCH:(b + 1) * BATCH], r, mix)
            loss = step(x, t)
            mx.eval(loss, m.state, o.state)
            tot += loss.item()
        acc3, acc1, worst = evaluate(m, test_w, test_y)
        print(f"wingbeat | {name:5s} e{ep:02d}/{first_epoch + epochs - 1:02d} | lr {o.learning_rate.item():.2e} "
              f"| train_ce {tot / nb:.4f} | field-test acc {acc3:5.1f}% (1 crop {acc1:5.1f}%) "
              f"| worst-genus recall {worst:5.1f}% | {time.time() - t0:5.1f}s")


r_train = np.random.default_rng(8)
EP_CLEAN, EP_FIELD = 5, 8
nb = len(clean_w) // BATCH
model, opt = build(stage_sched(EP_CLEAN * nb, 3e-3))
mx.eval(model.parameters())
x0, t0b = batch(clean_w, clean_y, np.arange(BATCH), r_train, False)
_, g = nn.value_and_grad(model, lambda mm, x, t: soft_ce(mm(x), t))(model, x0, t0b)
leaves = tree_flatten(g)
print(f"wingbeat | grads nonzero on {sum(int(mx.any(v != 0).item()) for _, v in leaves)}/{len(leaves)} tensors "
      f"| chance accuracy 33.3%")
acc3, acc1, worst = evaluate(model, test_w, test_y)
print(f"wingbeat | untrained | field-test acc {acc3:5.1f}% (1 crop {acc1:5.1f}%)")

run_stage("clean", model, opt, clean_w, clean_y, EP_CLEAN, False, r_train)

ckdir = tempfile.mkdtemp(prefix="wingbeat_")
model.save_weights(os.path.join(ckdir, "model.safetensors"))
before = evaluate(model, test_w, test_y)
del model, opt
model, opt = build(stage_sched(EP_FIELD * nb, 1.5e-3))
model.load_weights(os.path.join(ckdir, "model.safetensors"))
mx.eval(model.parameters())
after = evaluate(model, test_w, test_y)
shutil.rmtree(ckdir)
print(f"wingbeat | checkpoint {ckdir}/model.safetensors reloaded into a fresh model | "
      f"acc before {before[0]:.1f}% after {after[0]:.1f}% | new optimizer, lr restarts from 0")

run_stage("field", model, opt, field_w, field_y, EP_FIELD, True, r_train, first_epoch=1)
acc3, acc1, worst = evaluate(model, test_w, test_y)
print(f"wingbeat | done | field-test acc {acc3:.1f}% with 3-crop averaging, {acc1:.1f}% single crop, "
      f"worst genus {worst:.1f}%, chance 33.3% | {time.time() - t0:.1f}s")
