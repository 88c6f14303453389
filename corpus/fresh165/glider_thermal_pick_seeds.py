# Cross-country glider: which of 4 candidate thermals to turn toward.
# Contextual bandit trained with REINFORCE + running baseline; the reward is a
# noisy achieved climb rate in m/s (higher is better). Three seeds, each
# restarting its own flight counter; compiled update step.
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_CAND, FEAT = 4, 5   # per candidate: cumulus base height, cloud darkness, distance, sun on ground, upwind flag


def climb_rate(feats, rs):
    # made-up meteorology: strong under dark high cumulus near by, sunlit ground helps
    base, dark, dist, sun, upwind = (feats[..., i] for i in range(FEAT))
    mean = 0.9 + 1.1 * dark + 0.6 * base + 0.5 * sun - 0.7 * dist * dist + 0.3 * upwind * dark
    return mean, mean + rs.normal(0.0, 0.8, mean.shape)


class Picker(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(FEAT, 24)
        self.score = nn.Linear(24, 1, bias=False)   # a shared bias would cancel in the softmax

    def __call__(self, x):                   # x: (B, N_CAND, FEAT)
        return self.score(nn.tanh(self.enc(x))).squeeze(-1)   # logits (B, N_CAND)


def pg_loss(model, x, act, adv):
    logp = nn.log_softmax(model(x), axis=-1)
    chosen = mx.take_along_axis(logp, act[:, None], axis=1).squeeze(1)
    ent = -mx.sum(mx.exp(logp) * logp, axis=-1).mean()
    return -(chosen * adv).mean() - 0.01 * ent


def run_seed(seed, flights=480, batch=32):
    mx.random.seed(seed)
    rs = np.random.default_rng(seed)
    model = Picker()
    opt = optim.RMSprop(learning_rate=4e-4)
    mx.eval(model.parameters())
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, act, adv):
        loss, g = nn.value_and_grad(model, pg_loss)(model, x, act, adv)
        opt.update(model, g)
        return loss

    # gradient audit on a first batch
    f0 = rs.normal(0, 1, (batch, N_CAND, FEAT)).astype(np.float32)
    _, g0 = nn.value_and_grad(model, pg_loss)(model, mx.array(f0), mx.zeros((batch,), mx.int32), mx.ones((batch,)))
    small = min(float(mx.abs(v).sum()) for _, v in nn.utils.tree_flatten(g0))
    print(f"seed {seed}: grad audit min |g|_1 = {small:.4g}")

    baseline = 0.0
    tick = time.time()
    for f in range(0, flights + 1):
        feats = rs.normal(0, 1, (batch, N_CAND, FEAT)).astype(np.float32)
        mean, noisy = climb_rate(feats, rs)
        logits = model(mx.array(feats))
        act = mx.random.categorical(logits)
        a = np.array(act)
        r = noisy[np.arange(batch), a]
        adv = mx.array(((r - baseline) / 1.0).astype(np.float32))
        baseline = 0.95 * baseline + 0.05 * float(r.mean())
        if f > 0:
            loss = step(mx.array(feats), act, adv)
        else:
            loss = pg_loss(model, mx.array(feats), act, adv)
        mx.eval(loss, state)
        if f % 60 == 0:
            # greedy test flights: achieved mean climb vs oracle and random pilot
            tf = rs.normal(0, 1, (2000, N_CAND, FEAT)).astype(np.float32)
            tm, _ = climb_rate(tf, rs)
            g = np.array(mx.argmax(model(mx.array(tf)), axis=-1))
            got = tm[np.arange(2000), g].mean()
            best = tm.max(1).mean()
            rnd = tm.mean()
            pct = 100.0 * (got - rnd) / (best - rnd)
            bar = "#" * int(f / flights * 20)
            el = time.time() - tick
            sys.stdout.write(f"seed{seed} |{bar:<20}| {f}/{flights} [{el:4.1f}s] "
                             f"batch_climb={r.mean():+.2f}m/s greedy={got:.2f}m/s oracle={best:.2f}m/s "
                             f"random={rnd:.2f}m/s gap_closed={pct:5.1f}% pg={float(loss):+.3f}\n")
    return got, best, pct


res = [run_seed(s) for s in (11, 12, 13)]
print("summary  seed  greedy  oracle  gap_closed")
for s, (g, b, p) in zip((11, 12, 13), res):
    print(f"         {s:4d}  {g:6.2f}  {b:6.2f}  {p:8.1f}%")
print(f"mean gap closed {np.mean([p for _, _, p in res]):.1f}%")
