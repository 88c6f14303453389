"""Glockenspiel bar tuning as a contextual bandit.

Each blank bar arrives with a pitch offset (cents, sharp or flat), thickness,
length and alloy hardness. The tuner picks one of 7 trim cuts (end trims raise
the pitch, centre undercuts lower it; deeper cuts move it more, softer alloy
moves more per cut). Reward: minus the squared remaining error (in 10-cent units), plus the
workshop's measurement jitter. Policy gradient (REINFORCE) with a learned
value baseline and an entropy bonus, RMSprop.
"""
import logging
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    stream=sys.stdout)
log = logging.getLogger("trim")

rng = np.random.default_rng(2026)
CUTS = np.array([-40.0, -20.0, -8.0, 0.0, 8.0, 20.0, 40.0], dtype=np.float32)  # cents at nominal hardness
NAMES = ["centre-deep", "centre-mid", "centre-light", "none", "end-light", "end-mid", "end-deep"]


def blanks(n):
    offset = rng.uniform(-45, 45, n)           # cents, + = sharp
    thick = rng.uniform(6, 10, n)              # mm
    length = rng.uniform(90, 220, n)           # mm
    hard = rng.uniform(0.7, 1.3, n)            # relative alloy hardness
    feats = np.stack([offset / 30.0, (thick - 8) / 1.2, (length - 155) / 38.0, (hard - 1.0) / 0.17], 1)
    return feats.astype(np.float32), offset, hard


def reward(offset, hard, action):
    # a cut at "end" raises pitch, undercut lowers; softer alloy (hard<1) moves more
    move = CUTS[action] / hard
    err = offset + move                                 # sharp offset needs a negative move
    # squared error in tenths of a semitone: a bar left 20 c out costs 4x one left 10 c out
    return -(err / 10.0) ** 2 + rng.normal(0, 0.5, len(err)), np.abs(err)


class Tuner(nn.Module):
    def __init__(self):
        super().__init__()
        self.pi = nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 7))
        self.v = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 1))

    def __call__(self, x):
        return self.pi(x), self.v(x).squeeze(-1)


mx.random.seed(3)
net = Tuner()
opt = optim.RMSprop(learning_rate=1e-3)


def pg_loss(model, x, a, r, beta):
    logits, v = model(x)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    lp_a = mx.take_along_axis(logp, a[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(r - v)
    adv = adv / (mx.sqrt(mx.mean(adv * adv)) + 1e-6)
    ent = -mx.sum(mx.exp(logp) * logp, axis=-1).mean()
    value = mx.mean((v - r) ** 2)
    return -mx.mean(lp_a * adv) + 0.5 * value - beta * ent, ent


step_fn = nn.value_and_grad(net, pg_loss)

# fixed audit batch: greedy policy vs oracle vs "no cut"
ax, aoff, ahard = blanks(2000)
best = np.argmin(np.abs(aoff[:, None] + CUTS[None, :] / ahard[:, None]), axis=1)
oracle_err = np.abs(aoff + CUTS[best] / ahard).mean()
nocut_err = np.abs(aoff).mean()


def audit():
    logits, _ = net(mx.array(ax))
    a = np.array(mx.argmax(logits, axis=-1))
    err = np.abs(aoff + CUTS[a] / ahard)
    return err.mean(), 100.0 * (err <= 5.0).mean()


ROUNDS, BENCHES, BATCH = 16, 25, 256
log.info("audit refs: no-cut %.2f c, oracle %.2f c (cents, mean |err|)", nocut_err, oracle_err)
t0 = time.time()
for rnd in range(1, ROUNDS + 1):
    rewards, ents = [], []
    beta = 0.08 * (1 - (rnd - 1) / ROUNDS) + 0.002  # entropy bonus annealed
    for b in range(1, BENCHES + 1):
        feats, off, hard = blanks(BATCH)
        x = mx.array(feats)
        logits, _ = net(x)
        a = mx.random.categorical(logits)
        r, _ = reward(off, hard, np.array(a))
        (loss, ent), grads = step_fn(net, x, a, mx.array(r.astype(np.float32)), beta)
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state, loss)
        rewards.append(r.mean())
        ents.append(ent.item())
        if b % 5 == 0:
            bar = "#" * (b * 20 // BENCHES)
            sys.stdout.write(f"\rround {rnd:2d}/{ROUNDS} |{bar:<20}| {b}/{BENCHES} "
                             f"R={np.mean(rewards[-5:]):7.2f} H={np.mean(ents[-5:]):.3f}")
            sys.stdout.flush()
    sys.stdout.write("\n")
    err, in_tune = audit()
    log.info("round %d: mean R %.2f | greedy err %.2f c (oracle %.2f, no-cut %.2f) | in tune %.1f%%",
             rnd, float(np.mean(rewards)), err, oracle_err, nocut_err, in_tune)

err, in_tune = audit()
logits, _ = net(mx.array(ax))
counts = np.bincount(np.array(mx.argmax(logits, axis=-1)), minlength=7)
log.info("finished in %.1fs; greedy err %.2f c, in tune %.1f%%", time.time() - t0, err, in_tune)
for n, c in zip(NAMES, counts):
    print(f"  {n:<13} {c:5d}")
