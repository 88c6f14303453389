"""Harbour pilotage: minutes from pilot boarding to first line ashore.

Sparse mixture of experts (top-2 of 6, sigmoid scores) whose expert choice is
balanced by a per-expert routing offset that is nudged by a sign rule after each
step (no auxiliary loss). The offset only affects which experts are picked; the
combination weights come from the raw sigmoid scores.
Training runs in two sessions: session 1 saves a checkpoint, session 2 restores
it into a fresh model and continues.
"""
import os
import time
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N_TRAIN, N_VAL, D_IN = 12000, 2000, 8


def make_split(n):
    x = rng.normal(size=(n, D_IN)).astype(np.float32)
    # hidden regimes: tide state (flood / slack / ebb) from two features
    tide = np.where(x[:, 0] > 0.6, 0, np.where(x[:, 0] < -0.6, 2, 1))
    dist, wind, tug, draught = x[:, 1], x[:, 2], x[:, 3], x[:, 4]
    y = np.where(
        tide == 0, 40 + 9 * dist + 4 * np.tanh(2 * wind) - 3 * tug,
        np.where(tide == 1, 32 + 6 * dist + 2.5 * draught ** 2 - 4 * tug,
                 46 + 11 * dist - 5 * np.abs(wind) + 3 * draught * tug))
    y = y + 0.8 * x[:, 5] * x[:, 6] + rng.normal(scale=1.2, size=n)
    return x, y.astype(np.float32)


xtr, ytr = make_split(N_TRAIN)
xva, yva = make_split(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
ttr, tva = (ytr - ymu) / ysd, (yva - ymu) / ysd
xtr, ttr, xva, tva = map(mx.array, (xtr, ttr, xva, tva))
baseline_mae = float(np.abs(yva - ytr.mean()).mean())


class Expert(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.up = nn.Linear(d, h)
        self.down = nn.Linear(h, d)

    def __call__(self, x):
        return self.down(nn.gelu(self.up(x)))


class OffsetRoutedMoE(nn.Module):
    def __init__(self, d, h, n_exp=6, k=2):
        super().__init__()
        self.k = k
        self.n_exp = n_exp
        self.score = nn.Linear(d, n_exp, bias=False)
        self.experts = [Expert(d, h) for _ in range(n_exp)]
        self._offset = mx.zeros((n_exp,))   # leading underscore: not a parameter

    def __call__(self, x):
        s = mx.sigmoid(self.score(x))                       # (B, E)
        pick = mx.stop_gradient(s) + self._offset
        idx = mx.argpartition(-pick, kth=self.k - 1, axis=-1)[:, : self.k]
        idx = mx.stop_gradient(idx)
        w = mx.take_along_axis(s, idx, axis=-1)
        w = w / (w.sum(-1, keepdims=True) + 1e-9)
        outs = mx.stack([e(x) for e in self.experts], axis=1)   # (B, E, d)
        chosen = mx.take_along_axis(outs, idx[:, :, None], axis=1)
        y = (chosen * w[:, :, None]).sum(1)
        return y, idx


class PilotNet(nn.Module):
    def __init__(self, d_in=D_IN, d=32):
        super().__init__()
        self.inp = nn.Linear(d_in, d)
        self.norm1 = nn.LayerNorm(d)
        self.moe1 = OffsetRoutedMoE(d, 48)
        self.norm2 = nn.LayerNorm(d)
        self.moe2 = OffsetRoutedMoE(d, 48)
        self.out = nn.Linear(d, 1)

    def __call__(self, x):
        h = self.inp(x)
        y, i1 = self.moe1(self.norm1(h))
        h = h + y
        y, i2 = self.moe2(self.norm2(h))
        h = h + y
        return self.out(h).squeeze(-1), (i1, i2)


def loss_fn(model, x, t):
    pred, idx = model(x)
    return nn.losses.huber_loss(pred, t, delta=1.0, reduction="mean"), idx


def load_share(idx, n_exp=6):
    counts = np.bincount(np.array(idx).reshape(-1), minlength=n_exp)
    return counts / counts.sum()


def nudge_offsets(model, idxs, gamma):
    for moe, idx in zip((model.moe1, model.moe2), idxs):
        share = mx.array(load_share(idx).astype(np.float32))
        moe._offset = moe._offset - gamma * mx.sign(share - 1.0 / moe.n_exp)


def evaluate(model):
    pred, idx = model(xva)
    mae = float(mx.abs(pred - tva).mean()) * ysd
    return mae, load_share(idx[0]), load_share(idx[1])


BATCH, STEPS_1, STEPS_2, WARM, PEAK = 192, 240, 160, 60, 3e-3
TOTAL = STEPS_1 + STEPS_2


def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM                     # starts at exactly 0
    frac = (step - WARM) / (TOTAL - WARM)
    return 1e-5 + 0.5 * (PEAK - 1e-5) * (1 + np.cos(np.pi * frac))


def run_session(model, opt, start, stop, gamma):
    vg = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for step in range(start, stop):
        sel = mx.array(rng.integers(0, N_TRAIN, size=BATCH))
        opt.learning_rate = lr_at(step)
        (loss, idx), grads = vg(model, xtr[sel], ttr[sel])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        nudge_offsets(model, idx, gamma)
        mx.eval(model.moe1._offset, model.moe2._offset)
        if step % 40 == 0 or step == stop - 1:
            mae, s1, s2 = evaluate(model)
            print(f"step {step:4d} lr {lr_at(step):.2e} huber {float(loss):.4f} "
                  f"val_mae {mae:6.2f} min (mean-guess {baseline_mae:5.2f}) "
                  f"max_share L1 {s1.max():.2f} L2 {s2.max():.2f} "
                  f"offset_span {float(model.moe1._offset.max() - model.moe1._offset.min()):.3f} "
                  f"[{time.time() - t0:4.1f}s]", flush=True)


mx.random.seed(3)
model = PilotNet()
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"trainable parameters: {n_params}  experts per layer: 6, picked per row: 2")
opt = optim.AdamW(learning_rate=0.0, weight_decay=0.01)

print("session 1")
run_session(model, opt, 0, STEPS_1, gamma=2e-3)

ckdir = tempfile.mkdtemp(None, "pilotage_")
model.save_weights(os.path.join(ckdir, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "offsets.safetensors"),
                    {"moe1": model.moe1._offset, "moe2": model.moe2._offset})
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"),
                    dict(tree_flatten(opt.state)))
mae_before, _, _ = evaluate(model)
print(f"checkpoint written, val_mae {mae_before:.2f}")

print("session 2 (restored into a fresh model)")
mx.random.seed(99)
model2 = PilotNet()
model2.load_weights(os.path.join(ckdir, "weights.safetensors"))
off = mx.load(os.path.join(ckdir, "offsets.safetensors"))
model2.moe1._offset, model2.moe2._offset = off["moe1"], off["moe2"]
opt2 = optim.AdamW(learning_rate=0.0, weight_decay=0.01)
opt2.init(model2.trainable_parameters())
from mlx.utils import tree_unflatten
opt2.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
mae_after, _, _ = evaluate(model2)
print(f"restored val_mae {mae_after:.2f} (before save {mae_before:.2f})")
run_session(model2, opt2, STEPS_1, TOTAL, gamma=1e-3)

mae, s1, s2 = evaluate(model2)
print(f"final val_mae {mae:.2f} min vs mean-guess {baseline_mae:.2f} min "
      f"({100 * (1 - mae / baseline_mae):.0f}% lower)")
print("final expert shares L1 " + " ".join(f"{v:.2f}" for v in s1))
print("final expert shares L2 " + " ".join(f"{v:.2f}" for v in s2))
