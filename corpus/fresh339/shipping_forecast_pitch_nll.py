"""Pitch predictor for a tiny TTS voice (coastal shipping-forecast reader).

Per phoneme the model predicts the log2-F0 offset from the speaker's median
pitch (in octaves) as a Gaussian (mean + log-variance) and a voiced/unvoiced
logit.  Loss = masked Gaussian NLL on voiced phonemes + voicing BCE.
The NLL of a well-calibrated model sits below zero (noise sd is ~0.03 octave).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

N_PHONE = 22          # 0 pad, 1 '?' marker, 2..13 voiced, 14..21 unvoiced
T = 26
NOISE_OCT = 0.03      # 0.36 semitone
VOICED = set(range(2, 14))
INTRINSIC = np.zeros(N_PHONE)
INTRINSIC[2:14] = np.linspace(-0.05, 0.06, 12)   # high vowels sit higher


def make_set(n):
    ph = np.zeros((n, T), np.int32)
    st = np.zeros((n, T), np.int32)
    f0 = np.zeros((n, T), np.float32)
    vo = np.zeros((n, T), np.float32)
    mask = np.zeros((n, T), np.float32)
    for i in range(n):
        L = rng.integers(8, T - 1)
        q = rng.random() < 0.3
        seq = rng.integers(2, N_PHONE, size=L)
        stress = (rng.random(L) < 0.18).astype(np.int32)
        rel = np.arange(L) / max(L - 1, 1)
        target = INTRINSIC[seq] - 0.25 * rel + 0.17 * stress
        if q:
            target[-3:] += np.array([0.08, 0.18, 0.30])
        target += rng.normal(0, NOISE_OCT, L)
        v = np.array([s in VOICED for s in seq], np.float32)
        flip = rng.random(L) < 0.03
        v_obs = np.where(flip, 1 - v, v)
        ph[i, :L] = seq
        st[i, :L] = stress
        f0[i, :L] = target
        vo[i, :L] = v_obs
        mask[i, :L] = 1.0
        if q:
            ph[i, L] = 1
    return ph, st, f0, vo, mask


class ConvBlock(nn.Module):
    def __init__(self, d, dil):
        super().__init__()
        self.dil = dil
        self.mix = nn.Linear(3 * d, d)
        self.norm = nn.LayerNorm(d)

    def __call__(self, x):
        # dilated width-3 time convolution written as shifted copies + Linear
        k = self.dil
        z = mx.zeros_like(x[:, :k])
        left = mx.concatenate([z, x[:, :-k]], axis=1)
        right = mx.concatenate([x[:, k:], z], axis=1)
        return x + nn.gelu(self.norm(self.mix(mx.concatenate([left, x, right], axis=-1))))


class PitchPredictor(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.phone = nn.Embedding(N_PHONE, d)
        self.stress = nn.Embedding(2, d)
        self.pos = nn.Linear(4, d)
        self.blocks = [ConvBlock(d, r) for r in (1, 2, 4, 1)]
        self.mu = nn.Linear(d, 1)
        self.logvar = nn.Linear(d, 1)
        self.voiced = nn.Linear(d, 1)

    def __call__(self, ph, st, lens):
        t = mx.arange(T)[None, :].astype(mx.float32)
        rel = t / mx.maximum(lens[:, None] - 1, 1)
        pos = mx.stack([rel, rel * rel, mx.sin(math.pi * rel), mx.cos(math.pi * rel)], axis=-1)
        h = self.phone(ph) + self.stress(st) + self.pos(pos)
        for b in self.blocks:
            h = b(h)
        return self.mu(h)[..., 0], self.logvar(h)[..., 0], self.voiced(h)[..., 0]


def losses(model, ph, st, f0, vo, mask, lens):
    mu, lv, vl = model(ph, st, lens)
    lv = mx.clip(lv, -12.0, 4.0)
    vmask = mask * vo
    nll = 0.5 * (math.log(2 * math.pi) + lv + (f0 - mu) ** 2 * mx.exp(-lv))
    nll = (nll * vmask).sum() / mx.maximum(vmask.sum(), 1.0)
    bce = nn.losses.binary_cross_entropy(vl, vo, with_logits=True, reduction="none")
    bce = (bce * mask).sum() / mask.sum()
    return nll + bce, (nll, bce)


def to_mx(batch):
    ph, st, f0, vo, mask = batch
    lens = mask.sum(1)
    return (mx.array(ph), mx.array(st), mx.array(f0), mx.array(vo),
            mx.array(mask), mx.array(lens))


train = make_set(3000)
val = make_set(600)
val_mx = to_mx(val)

# baselines from the training set
tr_ph, _, tr_f0, tr_vo, tr_mask = train
vm = (tr_mask * tr_vo) > 0
global_mean = tr_f0[vm].mean()
per_phone = np.array([tr_f0[vm & (tr_ph == p)].mean() if (vm & (tr_ph == p)).any() else global_mean
                      for p in range(N_PHONE)])
v_ph, _, v_f0, v_vo, v_mask = val
v_sel = (v_mask * v_vo) > 0
base_glob = 1200 * np.sqrt(((v_f0[v_sel] - global_mean) ** 2).mean())
base_phone = 1200 * np.sqrt(((v_f0[v_sel] - per_phone[v_ph][v_sel]) ** 2).mean())
vo_major = max(v_vo[v_mask > 0].mean(), 1 - v_vo[v_mask > 0].mean())
true_vo = np.isin(v_ph, list(VOICED)).astype(np.float32)
vo_lookup = (true_vo[v_mask > 0] == v_vo[v_mask > 0]).mean()
floor = 0.5 * math.log(2 * math.pi * NOISE_OCT ** 2) + 0.5

print(f"train utterances {len(tr_ph)}, val {len(v_ph)}, max phonemes {T}")
print(f"NLL floor for sd {NOISE_OCT} oct: {floor:.3f}")
print(f"baselines: global-mean RMSE {base_glob:.1f} cents, per-phoneme RMSE {base_phone:.1f} cents, "
      f"voicing majority {vo_major:.3f}, voicing lookup {vo_lookup:.3f}")

model = PitchPredictor()
mx.eval(model.parameters())
WARM, CYCLE = 40, 150
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 1e-3, WARM),
     optim.cosine_decay(1e-3, CYCLE, 1e-5),
     optim.cosine_decay(5e-4, CYCLE, 1e-5)],
    [WARM, WARM + CYCLE])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, losses)


def step(*b):
    (loss, (nll, bce)), g = loss_and_grad(model, *b)
    opt.update(model, g)
    return loss, nll, bce


def evaluate():
    ph, st, f0, vo, mask, lens = val_mx
    loss, (nll, bce) = losses(model, ph, st, f0, vo, mask, lens)
    mu, lv, vl = model(ph, st, lens)
    mu = np.array(mu)
    rmse = 1200 * np.sqrt(((mu[v_sel] - v_f0[v_sel]) ** 2).mean())
    acc = ((np.array(vl) > 0) == (v_vo > 0.5))[v_mask > 0].mean()
    return nll.item(), bce.item(), rmse, acc


TOTAL = WARM + 2 * CYCLE
BS = 48
t0 = time.time()
n = len(tr_ph)
order = rng.permutation(n)
cursor = 0
print(f"{'step':>5} {'lr':>9} {'loss':>8} {'nll':>8} {'bce':>7}")
for it in range(TOTAL):
    if cursor + BS > n:
        order = rng.permutation(n)
        cursor = 0
    idx = order[cursor:cursor + BS]
    cursor += BS
    lr_now = float(sched(mx.array(it)))
    b = to_mx(tuple(a[idx] for a in train))
    loss, nll, bce = step(*b)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 25 == 0 or it == TOTAL - 1:
        print(f"{it:5d} {lr_now:9.2e} {loss.item():8.4f} {nll.item():8.4f} {bce.item():7.4f}")
    if it in (WARM + CYCLE - 1, TOTAL - 1):
        vn, vb, rm, acc = evaluate()
        tag = "end of cycle 1" if it < TOTAL - 1 else "end of cycle 2"
        print(f"  [{tag}] val nll {vn:.4f} (floor {floor:.3f}) bce {vb:.4f} "
              f"F0 RMSE {rm:.1f} cents  voicing acc {acc:.3f}")

vn, vb, rm, acc = evaluate()
print(f"final: val F0 RMSE {rm:.1f} cents vs per-phoneme {base_phone:.1f} / global {base_glob:.1f}; "
      f"noise sd {1200 * NOISE_OCT:.1f} cents")
print(f"final: voicing acc {acc:.3f} vs lookup {vo_lookup:.3f} / majority {vo_major:.3f}")
print(f"time {time.time() - t0:.1f}s")
