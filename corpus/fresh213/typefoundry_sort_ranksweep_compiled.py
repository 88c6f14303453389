"""Type foundry QA: classify freshly cast sorts (ok / porous / flash / short)
from caster telemetry.  A classifier trained on the old caster's log is
frozen; low-rank adapters are fitted for a newly installed caster whose
defect boundaries are shifted.  Adapter ranks 1, 2, 4, 8 are swept; each
rank starts again from the same frozen net and a fresh optimizer, step
counter back to 1.  The training step is compiled.
"""
import logging
import math
import sys
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(levelname)s %(name)s | %(message)s")
log = logging.getLogger("foundry")

CLASSES = ["ok", "porous", "flash", "short"]


def cast_log(n, new_caster, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, 7), key=k1)
    metal_t, antimony, tin, mold_t, stroke, quench, wear = [x[:, i] for i in range(7)]
    porous = 1.4 * quench - 1.0 * metal_t + 0.6 * antimony * tin
    flash = 1.5 * stroke + 0.9 * wear - 0.5 * mold_t
    short = -1.6 * metal_t - 1.1 * mold_t + 0.4 * stroke * wear
    if new_caster:
        porous = porous + 1.2 * mold_t - 0.8 * quench
        flash = flash - 1.3 * stroke + 1.4 * tin
        short = short + 1.2 * metal_t * antimony + 0.5
    ok = mx.full(porous.shape, 0.8)
    logits = mx.stack([ok, porous, flash, short], axis=1) * 2.0
    y = mx.random.categorical(logits, key=k2)
    return x, y


class LowRank(nn.Module):
    def __init__(self, base: nn.Linear, rank: int):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.base = base
        self.down = mx.random.normal((in_d, rank)) / math.sqrt(in_d)
        self.up = mx.zeros((rank, out_d))
        self.gain = 4.0 / rank

    def __call__(self, x):
        return self.base(x) + self.gain * ((x @ self.down) @ self.up)


class Sorter(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(7, 48)
        self.mid = nn.Linear(48, 48)
        self.out = nn.Linear(48, 4)

    def __call__(self, x):
        return self.out(nn.relu(self.mid(nn.relu(self.inp(x)))))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return 100.0 * mx.mean(mx.argmax(model(x), axis=1) == y).item()


mx.random.seed(5)
ka, kav, kb, kbv = mx.random.split(mx.random.key(21), 4)
xa, ya = cast_log(4000, False, ka)
xav, yav = cast_log(800, False, kav)
xb, yb = cast_log(600, True, kb)
xbv, ybv = cast_log(800, True, kbv)

# ---- old caster: plain training of the full sorter ----
base = Sorter()
mx.eval(base.parameters())
opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(base, xent)
for step in range(1, 401):
    idx = mx.random.randint(0, xa.shape[0], (128,))
    loss, g = vg(base, xa[idx], ya[idx])
    opt.update(base, g)
    mx.eval(base.parameters(), opt.state, loss)
    if step % 100 == 0:
        log.info("old-caster step=%03d/400 | xent %.4f | acc %.1f%%", step, loss.item(),
                 accuracy(base, xav, yav))
base_weights = [(k, mx.array(v)) for k, v in tree_flatten(base.parameters())]
frozen_ref = accuracy(base, xbv, ybv)
majority = max(mx.sum(ybv == c).item() for c in range(4)) / ybv.size * 100.0
log.info("frozen sorter on new caster: acc %.1f%% (majority class %.1f%%)", frozen_ref, majority)

summary = []
STEPS = 240
for rank in (1, 2, 4, 8):
    mx.random.seed(100 + rank)
    model = Sorter()
    model.load_weights(base_weights)
    model.freeze()
    model.inp = LowRank(model.inp, rank)
    model.mid = LowRank(model.mid, rank)
    model.out = LowRank(model.out, rank)
    n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    opt = optim.Lion(learning_rate=optim.cosine_decay(6e-4, STEPS, 3e-5), weight_decay=0.01)
    vg = nn.value_and_grad(model, xent)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y):
        loss, g = vg(model, x, y)
        opt.update(model, g)
        return loss

    start = accuracy(model, xbv, ybv)
    log.info("rank=%d | adapter params %d | start acc %.1f%% (frozen ref %.1f%%)",
             rank, n_tr, start, frozen_ref)
    run = 0.0
    for step in range(1, STEPS + 1):
        idx = mx.random.randint(0, xb.shape[0], (48,))
        loss = train_step(xb[idx], yb[idx])
        mx.eval(state, loss)
        run += loss.item()
        if step % 60 == 0:
            log.info("rank=%d step=%03d/%d | xent %.4f | acc %.1f%% (frozen ref %.1f%%)",
                     rank, step, STEPS, run / 60, accuracy(model, xbv, ybv), frozen_ref)
            run = 0.0
    up_norm = sum(mx.linalg.norm(getattr(model, n).up).item() for n in ("inp", "mid", "out"))
    summary.append((rank, n_tr, start, accuracy(model, xbv, ybv), up_norm))

print("rank | params | acc_before | acc_after | sum|up|")
for r, n, a0, a1, u in summary:
    print(f"{r:>4} | {n:>6} | {a0:>9.1f}% | {a1:>8.1f}% | {u:.3f}")
best = max(summary, key=lambda t: t[3])
print(f"selected rank {best[0]}: {best[3]:.1f}% vs frozen {frozen_ref:.1f}%")
