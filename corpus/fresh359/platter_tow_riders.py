"""Ski area operations: 10/50/90% quantile forecast of the next 6 hours of
platter-tow riders (per 10 min) and wind at the top station, from the
previous 24 hours.

Channel-independent patch mixer: overlapping patches (length 16, stride 8,
end padded by repeating the last value), reversible instance norm that
subtracts the last value, token-mixing + feature-mixing MLP blocks,
non-crossing quantile head (median plus softplus gaps), pinball loss.
AdamW with linear warmup from 0 and cosine warm restarts (cycles of
120 and 240 steps); the run is checkpointed to disk part-way, everything is
rebuilt from the checkpoint and training continues.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)

STEPS_PER_DAY = 60          # 10-min slots, 08:00-18:00
LOOKBACK, HORIZON = 60, 36   # 10 h of history (one day), 6 h ahead
PLEN, STRIDE = 12, 6           # stride is half a patch
NPATCH = (LOOKBACK - PLEN) // STRIDE + 2
QUANTS = mx.array([0.1, 0.5, 0.9])
N_CH = 2


def make_tow(days=40):
    slot = np.arange(STEPS_PER_DAY)
    shape = np.clip(slot / 8.0, 0, 1) * (1 - 0.35 * np.exp(-((slot - 30) / 5.0) ** 2))
    shape *= np.clip((STEPS_PER_DAY - slot) / 10.0, 0, 1)
    cap = rng.uniform(40, 90)
    riders, wind = [], []
    w = rng.uniform(3, 8)
    for d in range(days):
        crowd = cap * (1.4 if d % 7 in (5, 6) else 1.0) * rng.uniform(0.6, 1.2)
        wd = np.empty(STEPS_PER_DAY)
        for s in range(STEPS_PER_DAY):
            w = 0.95 * w + 0.05 * 6.0 + rng.normal(0, 0.9)
            w = max(w, 0.0)
            wd[s] = w
        lam = crowd * shape * np.exp(-np.maximum(wd - 10, 0) * 0.3)
        lam[wd > 15] = 0.0            # tow stopped in strong wind
        riders.append(rng.poisson(lam))
        wind.append(wd)
    return np.stack([np.concatenate(riders), np.concatenate(wind)], 1).astype(np.float32)


def windows(series_list, step):
    xs, ys = [], []
    for s in series_list:
        for a in range(0, len(s) - LOOKBACK - HORIZON + 1, step):
            xs.append(s[a:a + LOOKBACK])
            ys.append(s[a + LOOKBACK:a + LOOKBACK + HORIZON])
    return np.stack(xs), np.stack(ys)


tows = [make_tow() for _ in range(24)]
x_tr, y_tr = windows(tows[:18], 6)
x_te, y_te = windows(tows[18:], 15)
x_tr, y_tr, x_te, y_te = map(mx.array, (x_tr, y_tr, x_te, y_te))
print(f"train windows {x_tr.shape[0]}, test windows {x_te.shape[0]}, patches {NPATCH} of {PLEN} (stride {STRIDE})")


class LastValueNorm(nn.Module):
    def __init__(self, eps=1e-3):
        super().__init__()
        self.eps = eps

    def norm(self, x):
        last = mx.stop_gradient(x[:, -1:, :])
        std = mx.stop_gradient(mx.sqrt(mx.var(x, axis=1, keepdims=True) + self.eps))
        return (x - last) / std, (last, std)

    def denorm(self, y, stats):
        last, std = stats
        return y * std[..., None] + last[..., None]


class MixBlock(nn.Module):
    def __init__(self, n_tok, d):
        super().__init__()
        self.n1 = nn.LayerNorm(d)
        self.tok = nn.Sequential(nn.Linear(n_tok, 2 * n_tok), nn.GELU(), nn.Linear(2 * n_tok, n_tok))
        self.n2 = nn.LayerNorm(d)
        self.feat = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def __call__(self, h):
        h = h + self.tok(self.n1(h).transpose(0, 2, 1)).transpose(0, 2, 1)
        return h + self.feat(self.n2(h))


class TowMixer(nn.Module):
    def __init__(self, d=48, blocks=2):
        super().__init__()
        self.norm = LastValueNorm()
        self.embed = nn.Linear(PLEN, d)
        self.blocks = [MixBlock(NPATCH, d) for _ in range(blocks)]
        self.out_norm = nn.LayerNorm(d)
        self.head = nn.Linear(NPATCH * d, HORIZON * 3)

    def __call__(self, x):
        B = x.shape[0]
        xn, stats = self.norm.norm(x)
        z = xn.transpose(0, 2, 1).reshape(B * N_CH, LOOKBACK)
        z = mx.concatenate([z, mx.repeat(z[:, -1:], STRIDE, axis=1)], axis=1)
        halves = z.reshape(B * N_CH, -1, STRIDE)
        h = self.embed(mx.concatenate([halves[:, :-1], halves[:, 1:]], axis=-1))
        for blk in self.blocks:
            h = blk(h)
        raw = self.head(self.out_norm(h).reshape(B * N_CH, -1)).reshape(B * N_CH, HORIZON, 3)
        med = raw[..., 1]
        lo = med - nn.softplus(raw[..., 0])
        hi = med + nn.softplus(raw[..., 2])
        q = mx.stack([lo, med, hi], axis=-1)
        q = q.reshape(B, N_CH, HORIZON, 3).transpose(0, 2, 1, 3)
        return self.norm.denorm(q, stats)


def pinball(q, y):
    diff = y[..., None] - q
    return mx.maximum(QUANTS * diff, (QUANTS - 1.0) * diff)


# per-channel weight so riders (tens) and wind (m/s) count alike
CH_W = mx.array(1.0 / np.array(np.concatenate([np.array(t) for t in tows[:18]]).std(0)))


def loss_fn(model, x, y):
    return (pinball(model(x), y) * CH_W[None, None, :, None]).mean()


WARM, C1 = 20, 120
TOTAL = WARM + C1 + 2 * C1
PEAK, FLOOR = 2e-3, 5e-5


def sgdr(step):
    # python-side schedule evaluated by the optimizer every update
    s = step.item() if isinstance(step, mx.array) else step
    if s < WARM:
        return mx.array(PEAK * s / WARM)
    s -= WARM
    length = C1
    while s >= length:
        s -= length
        length *= 2
    return mx.array(FLOOR + 0.5 * (PEAK - FLOOR) * (1 + math.cos(math.pi * s / length)))


def build():
    m = TowMixer()
    o = optim.AdamW(learning_rate=sgdr, weight_decay=1e-3)
    return m, o


def test_report(model, tag):
    q = model(x_te)
    pb = (pinball(q, y_te) * CH_W[None, None, :, None]).mean().item()
    inside = ((y_te >= q[..., 0]) & (y_te <= q[..., 2])).astype(mx.float32)
    cov = np.array(mx.mean(inside, axis=(0, 1)))
    mae = np.array(mx.mean(mx.abs(q[..., 1] - y_te), axis=(0, 1)))
    print(f"  [{tag}] test pinball {pb:.4f}  10-90 coverage riders {cov[0]:.2f} wind {cov[1]:.2f} (nominal 0.80)"
          f"  median MAE riders {mae[0]:.2f} wind {mae[1]:.2f}")
    return pb, cov, mae


ckpt_dir = tempfile.mkdtemp(prefix="tow_ckpt_")
RESUME_AT = 200
BS = 64
t0 = time.time()

model, opt = build()
mx.eval(model.parameters())
step = 0
losses = []
print(f"total steps {TOTAL}: warmup {WARM} from lr 0, cosine cycles of {C1} and {2 * C1} steps")
while step < TOTAL:
    perm = mx.array(rng.permutation(x_tr.shape[0]))
    for i in range(0, x_tr.shape[0] - BS + 1, BS):
        bi = perm[i:i + BS]
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x_tr[bi], y_tr[bi])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        losses.append(loss.item())
        step += 1
        if step % 40 == 0 or step == 1:
            print(f"step {step:4d}  lr {opt.learning_rate.item():.2e}  pinball(avg last 40) {np.mean(losses[-40:]):.4f}")
        if step in (WARM + C1, TOTAL):
            test_report(model, f"end of cycle @ {step}")
        if step == RESUME_AT:
            model.save_weights(os.path.join(ckpt_dir, "weights.safetensors"))
            mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
            pre = loss_fn(model, x_te[:128], y_te[:128]).item()
            del model, opt
            model, opt = build()
            model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
            mx.eval(model.parameters(), opt.state)
            post = loss_fn(model, x_te[:128], y_te[:128]).item()
            print(f"-- checkpoint at step {step}, rebuilt and resumed: probe loss {pre:.4f} -> {post:.4f}, "
                  f"optimizer step {int(opt.state['step'].item())}")
        if step >= TOTAL:
            break

# baselines on the median / point forecast
last = mx.repeat(x_te[:, -1:, :], HORIZON, axis=1)
yday = x_te[:, :HORIZON, :]     # same slots one day earlier (lookback is exactly one day)
for name, p in (("last value", last), ("same slot yesterday", yday)):
    mae = np.array(mx.mean(mx.abs(p - y_te), axis=(0, 1)))
    print(f"  baseline {name:20s} MAE riders {mae[0]:.2f} wind {mae[1]:.2f}")
print(f"done in {time.time() - t0:.1f}s")
