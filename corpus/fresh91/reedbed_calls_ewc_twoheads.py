"""Reed-bed bird-call classifier over two survey seasons.

Season A: 4 warbler call types from 12 acoustic summary features.
Season B: a new recorder (shifted, re-mixed features) and 3 new call types.
A shared trunk with one head per season ("multi-head" continual learning).
The season-A head is frozen on purpose while season B trains.

After season A the weights are checkpointed, a diagonal Fisher of the trunk
is estimated (silent phase), and season B is trained twice from that same
checkpoint: a plain fine-tune and an EWC fine-tune. Season-A accuracy is
expected to fall in both (less with EWC); the EWC objective includes the
penalty, so it is not the plain season-B loss.

Output: logfmt lines (key=value).
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(5)
D = 12
T0 = time.perf_counter()


def log(**kv):
    kv = {"t": f"{time.perf_counter() - T0:.1f}", **kv}
    print(" ".join(f"{k}={v}" for k, v in kv.items()), flush=True)


def make_season(n, n_cls, mix, shift, seed):
    r = np.random.default_rng(seed)
    protos = r.standard_normal((n_cls, D)) * 1.1
    y = r.integers(0, n_cls, n)
    x = protos[y] + r.standard_normal((n, D)) * 0.9
    x = np.tanh(x) * 1.5 + 0.25 * x ** 2 / 3  # recorder non-linearity
    x = x @ mix + shift
    return x.astype(np.float32), y.astype(np.int32)


mix_a = np.eye(D)
mix_b = np.linalg.qr(rng.standard_normal((D, D)))[0]
xa, ya = make_season(7000, 4, mix_a, 0.0, 1)
xb, yb = make_season(7000, 3, mix_b, 0.4, 2)
split = 5000
XA, YA, XA_te, YA_te = xa[:split], ya[:split], mx.array(xa[split:]), mx.array(ya[split:])
XB, YB, XB_te, YB_te = xb[:split], yb[:split], mx.array(xb[split:]), mx.array(yb[split:])


class CallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.head_a = nn.Linear(64, 4)
        self.head_b = nn.Linear(64, 3)

    def __call__(self, x, season):
        h = self.trunk(x)
        return self.head_a(h) if season == "A" else self.head_b(h)


def accuracy_pct(model, x, y, season):
    return 100.0 * (model(x, season).argmax(-1) == y).mean().item()


def ce(model, x, y, season):
    return nn.losses.cross_entropy(model(x, season), y, reduction="mean")


def train_season(model, season, X, Y, opt, steps, penalty=None, every=250):
    """One helper for every phase; penalty(model) -> extra loss term or None."""
    def objective(m, x, y):
        base = ce(m, x, y, season)
        if penalty is None:
            return base, base
        return base + penalty(m), base

    vg = nn.value_and_grad(model, objective)
    n = len(X)
    perm, cur = rng.permutation(n), 0
    win_obj, win_ce = [], []
    for step in range(1, steps + 1):
        if cur + 64 > n:
            perm, cur = rng.permutation(n), 0
        idx = mx.array(perm[cur:cur + 64])
        cur += 64
        (obj, base), grads = vg(model, mx.array(X)[idx], mx.array(Y)[idx])
        if step == 1:
            flat = tree_flatten(grads)
            zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
            log(event="grad_check", season=season, trainable_leaves=len(flat),
                zero_leaves=",".join(zero) or "none")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, obj, base)
        win_obj.append(obj.item())
        win_ce.append(base.item())
        if step % every == 0:
            log(event="train", season=season, step=step,
                objective=f"{np.mean(win_obj):.4f}", ce_season=f"{np.mean(win_ce):.4f}",
                accA_pct=f"{accuracy_pct(model, XA_te, YA_te, 'A'):.1f}",
                accB_pct=f"{accuracy_pct(model, XB_te, YB_te, 'B'):.1f}")
            win_obj, win_ce = [], []


# ----------------------------------------------------------------- season A
net = CallNet()
mx.eval(net.parameters())
log(event="setup", seasonA_rows=len(XA), seasonB_rows=len(XB),
    chanceA_pct=25.0, chanceB_pct=33.3)
net.head_b.freeze()
train_season(net, "A", XA, YA, optim.Adam(learning_rate=2e-3), steps=1000)
net.head_b.unfreeze()

ckpt_dir = tempfile.mkdtemp(prefix="reedbed_")
ckpt = os.path.join(ckpt_dir, "after_season_a.safetensors")
net.save_weights(ckpt)
log(event="checkpoint", path=os.path.basename(ckpt),
    accA_pct=f"{accuracy_pct(net, XA_te, YA_te, 'A'):.1f}")

# ------------------------------------------- diagonal Fisher (silent phase)
def trunk_nll(m, x, y):
    return ce(m, x, y, "A")


fisher_vg = nn.value_and_grad(net, trunk_nll)
fisher = tree_map(mx.zeros_like, net.trunk.parameters())
N_FISHER = 400
for i in rng.choice(len(XA), N_FISHER, replace=False):
    _, g = fisher_vg(net, mx.array(XA[i:i + 1]), mx.array(YA[i:i + 1]))
    fisher = tree_map(lambda f, gi: f + gi * gi / N_FISHER, fisher, g["trunk"])
    mx.eval(fisher)
anchor = tree_map(lambda p: mx.array(p), net.trunk.parameters())
mx.eval(anchor)
fmax = max(float(v.max()) for _, v in tree_flatten(fisher))
log(event="fisher", samples=N_FISHER, max_diag=f"{fmax:.3e}")

# ---------------------------------------- season B, twice from the checkpoint
LAMBDA = 400.0


def ewc_penalty(m):
    terms = tree_map(lambda f, p, a: (f * (p - a) ** 2).sum(),
                     fisher, m.trunk.parameters(), anchor)
    return 0.5 * LAMBDA * sum(v for _, v in tree_flatten(terms))


results = {}
for variant, pen in (("plain", None), ("ewc", ewc_penalty)):
    model = CallNet()
    model.load_weights(ckpt, strict=True)
    model.head_a.freeze()   # old head kept as is; trunk and new head train
    head_a_before = model.head_a.weight * 1.0
    mx.eval(head_a_before)
    log(event="variant_start", variant=variant,
        accA_pct=f"{accuracy_pct(model, XA_te, YA_te, 'A'):.1f}",
        accB_pct=f"{accuracy_pct(model, XB_te, YB_te, 'B'):.1f}")
    train_season(model, "B", XB, YB,
                 optim.SGD(learning_rate=0.02, momentum=0.9), steps=1000, penalty=pen)
    drift = float(mx.abs(model.head_a.weight - head_a_before).max())
    results[variant] = (accuracy_pct(model, XA_te, YA_te, "A"),
                        accuracy_pct(model, XB_te, YB_te, "B"))
    log(event="variant_done", variant=variant, head_a_max_drift=drift,
        accA_pct=f"{results[variant][0]:.1f}", accB_pct=f"{results[variant][1]:.1f}")

os.remove(ckpt)
os.rmdir(ckpt_dir)
log(event="summary", retainedA_plain_pct=f"{results['plain'][0]:.1f}",
    retainedA_ewc_pct=f"{results['ewc'][0]:.1f}",
    accB_plain_pct=f"{results['plain'][1]:.1f}", accB_ewc_pct=f"{results['ewc'][1]:.1f}")
