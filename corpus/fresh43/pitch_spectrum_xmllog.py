# Fundamental-frequency (pitch) estimation of synthetic harmonic tones from their
# log-magnitude spectrum, with a voiced/unvoiced head.  The run log is XML.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SR = 8000
FRAME = 512
NBIN = FRAME // 2
rng = np.random.default_rng(11)
F_LO, F_HI = 80.0, 640.0


def synth(n):
    t = np.arange(FRAME) / SR
    voiced = rng.random(n) < 0.75
    f0 = np.exp(rng.uniform(np.log(F_LO), np.log(F_HI), n))
    x = np.zeros((n, FRAME), np.float32)
    for i in range(n):
        if voiced[i]:
            nh = int(min(12, (SR / 2 - 1) // f0[i]))
            amps = rng.uniform(0.1, 1.0, nh) / np.arange(1, nh + 1) ** rng.uniform(0.3, 1.2)
            ph = rng.uniform(0, 2 * np.pi, nh)
            k = np.arange(1, nh + 1)[:, None]
            x[i] = (amps[:, None] * np.sin(2 * np.pi * f0[i] * k * t + ph[:, None])).sum(0)
        x[i] += rng.normal(0, rng.uniform(0.05, 0.4), FRAME)
    win = np.hanning(FRAME)
    spec = np.abs(np.fft.rfft(x * win, axis=1))[:, :NBIN]
    feat = np.log1p(spec)
    feat = (feat - feat.mean(1, keepdims=True)) / (feat.std(1, keepdims=True) + 1e-6)
    target = (np.log2(f0) - np.log2(F_LO)) / (np.log2(F_HI) - np.log2(F_LO))  # 0..1
    return feat.astype(np.float32), target.astype(np.float32), voiced.astype(np.float32)


Xtr, Ytr, Vtr = synth(16000)
Xva, Yva, Vva = synth(1000)


class PitchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(NBIN, 192), nn.SiLU(), nn.Linear(192, 96), nn.SiLU())
        self.pitch = nn.Linear(96, 1)
        self.voice = nn.Linear(96, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.pitch(h).squeeze(-1), self.voice(h).squeeze(-1)


def loss_fn(model, x, y, v):
    p, vl = model(x)
    # pitch loss only on voiced frames
    mse = (v * (p - y) ** 2).sum() / mx.maximum(v.sum(), 1.0)
    bce = nn.losses.binary_cross_entropy(vl, v, with_logits=True, reduction="mean")
    return mse + 0.2 * bce


def cents_mae(pred, y, q=None):
    span = np.log2(F_HI) - np.log2(F_LO)
    err = np.abs(pred - y) * span * 1200
    return float(np.mean(err) if q is None else np.median(err))


model = PitchNet()
mx.eval(model.parameters())
sched = optim.join_schedules([optim.linear_schedule(1e-5, 2e-3, 100),
                              optim.cosine_decay(2e-3, 1900, 1e-5)], [100])
opt = optim.AdamW(learning_rate=sched, weight_decay=5e-2)
vg = nn.value_and_grad(model, loss_fn)

print('<?xml version="1.0"?>')
print(f'<run task="f0-estimation" train="{len(Xtr)}" val="{len(Xva)}" frame="{FRAME}" sr="{SR}">')
# gradient sanity check on the first batch
xb, yb, vb = mx.array(Xtr[:128]), mx.array(Ytr[:128]), mx.array(Vtr[:128])
_, g0 = vg(model, xb, yb, vb)
bad = [k for k, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
print(f'  <gradcheck leaves="{len(tree_flatten(g0))}" zero="{len(bad)}"/>')
assert not bad, bad

STEPS, BS = 2000, 128
t0 = time.time()
run = []
for step in range(1, STEPS + 1):
    idx = rng.integers(0, len(Xtr), BS)
    loss, g = vg(model, mx.array(Xtr[idx]), mx.array(Ytr[idx]), mx.array(Vtr[idx]))
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    run.append(loss.item())
    if step % 250 == 0:
        p, vl = model(mx.array(Xva))
        p, vl = np.array(p), np.array(vl)
        m = Vva > 0.5
        vacc = float(((vl > 0) == m).mean())
        print(f'  <report step="{step}" lr="{float(opt.learning_rate):.2e}" '
              f'train_loss="{np.mean(run):.5f}" val_cents_mae="{cents_mae(p[m], Yva[m]):.1f}" '
              f'val_cents_median="{cents_mae(p[m], Yva[m], q=0.5):.1f}" val_voicing_acc="{vacc:.3f}" t="{time.time() - t0:.1f}"/>', flush=True)
        run = []
base = cents_mae(np.full(int((Vva > 0.5).sum()), Ytr[Vtr > 0.5].mean()), Yva[Vva > 0.5])
print(f'  <reference predict_mean_cents_mae="{base:.1f}" semitone="100"/>')
print('</run>')
