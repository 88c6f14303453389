"""Swing-bridge operator log: will a bridge swing cycle finish on time, late, or be aborted?

Stage A: learn on the tidy, unambiguous entries (all parameters, incl. the per-bridge
embedding).  Stage B: switch to the whole messy operator log (hand-written entries,
~12% mislabelled), freeze the bridge embedding and keep tuning the head with early
stopping; the best epoch is restored at the end.
"""
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(881)
mx.random.seed(881)
N_BRIDGES = 7


def logbook(n):
    bridge = rng.integers(0, N_BRIDGES, n)
    deck_c = rng.uniform(1.5, 6.0, n)            # deck temperature (x5 C) -> thermal jam
    vessels = rng.poisson(2.2, n)
    slew_wear = rng.beta(2, 5, n)
    wind = rng.gamma(2.0, 3.0, n)
    yacht = (rng.random(n) < 0.35).astype(float)  # leisure yacht in the queue
    dusk = (rng.random(n) < 0.2).astype(float)
    hyd_leak = rng.exponential(0.3, n)
    bridge_slow = np.array([0.0, 0.4, -0.3, 0.9, 0.1, -0.6, 0.5])[bridge]
    z = 0.55 * deck_c + 0.45 * vessels + 2.4 * slew_wear + 0.12 * wind + 0.8 * yacht \
        + 0.6 * dusk + 1.1 * hyd_leak + bridge_slow + rng.normal(0, 0.5, n)
    y = np.digitize(z, [4.6, 6.6])   # 0 on time, 1 late, 2 aborted
    margin = np.minimum(np.abs(z - 4.6), np.abs(z - 6.6))
    X = np.stack([deck_c, vessels, slew_wear, wind, yacht, dusk, hyd_leak], 1)
    return X, bridge, y, margin


X, L, Y, M = logbook(9000)
Xv, Lv, Yv, _ = logbook(2000)
mu, sd = X.mean(0), X.std(0)
X = (X - mu) / sd
Xv = (Xv - mu) / sd
noisy = Y.copy()
flip = rng.random(len(Y)) < 0.12
noisy[flip] = rng.integers(0, 3, flip.sum())
tidy = M > 0.6

to = lambda a, t=mx.float32: mx.array(a.astype(np.float32 if t == mx.float32 else np.int32))
Xv_m, Lv_m, Yv_m = to(Xv), to(Lv, mx.int32), to(Yv, mx.int32)


class BridgeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.bridge_emb = nn.Embedding(N_BRIDGES, 4)
        self.body = nn.Sequential(nn.Linear(11, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Linear(64, 3)

    def __call__(self, x, bridge):
        h = mx.concatenate([x, self.bridge_emb(bridge)], axis=-1)
        return self.head(self.body(h))


model = BridgeNet()
mx.eval(model.parameters())


def xent(m, x, lk, y):
    return nn.losses.cross_entropy(m(x, lk), y, reduction="mean")


def make_step(opt):
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, lk, y):
        loss, g = nn.value_and_grad(model, xent)(model, x, lk, y)
        opt.update(model, g)
        return loss

    return step, state


def evaluate():
    logits = model(Xv_m, Lv_m)
    loss = nn.losses.cross_entropy(logits, Yv_m, reduction="mean")
    pred = mx.argmax(logits, -1)
    acc = mx.mean(pred == Yv_m) * 100
    ab = Yv_m == 2
    recall_ab = mx.sum((pred == 2) & ab) / mx.maximum(mx.sum(ab), 1) * 100
    return loss.item(), acc.item(), recall_ab.item()


# gradient check: every parameter reachable before anything is frozen
_, g0 = nn.value_and_grad(model, xent)(model, to(X[:256]), to(L[:256], mx.int32), to(Y[:256], mx.int32))
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"grad check: {len(tree_flatten(g0))} tensors, {len(dead)} without gradient")

print("| stg | ep | rows  | train_xent | val_xent | val_acc% | abort_recall% | trainable |")
print("|-----|----|-------|------------|----------|----------|---------------|-----------|")
t0 = time.time()
best = (float("inf"), None, None)
for stage, rows, labels, epochs, opt in [
        ("A", np.where(tidy)[0], Y, 6, optim.Lion(learning_rate=3e-4, weight_decay=0.01)),
        ("B", np.arange(len(Y)), noisy, 20, optim.Lion(learning_rate=1e-4, weight_decay=0.01))]:
    if stage == "B":
        model.bridge_emb.freeze()
    step, state = make_step(opt)
    n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    patience, bad = 4, 0
    for ep in range(1, epochs + 1):
        perm = rng.permutation(rows)
        tot, cnt = 0.0, 0
        for i in range(0, len(perm) - 127, 128):
            b = perm[i:i + 128]
            loss = step(to(X[b]), to(L[b], mx.int32), to(labels[b], mx.int32))
            mx.eval(loss, state)
            tot += loss.item()
            cnt += 1
        vl, va, vr = evaluate()
        print(f"|  {stage}  | {ep:2d} | {len(rows):5d} | {tot / cnt:10.4f} | {vl:8.4f} | {va:8.2f} | {vr:13.1f} | {n_tr:9d} |")
        if stage == "B":
            if vl < best[0] - 1e-4:
                best = (vl, ep, tree_map(lambda a: mx.array(a), model.parameters()))
                bad = 0
            else:
                bad += 1
                if bad >= patience:
                    print(f"early stop in stage B at epoch {ep} (no val_xent gain for {patience} epochs)")
                    break

model.update(best[2])
vl, va, vr = evaluate()
print(f"restored stage-B epoch {best[1]}: val_xent {vl:.4f}, val_acc {va:.2f}%, abort recall {vr:.1f}% "
      f"({time.time() - t0:.1f}s)")
