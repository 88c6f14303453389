"""Mahjong discard helper trained as a contextual bandit (REINFORCE).

Each "hand" is summarised by 8 synthetic features; the agent picks one of 5
discard candidates and receives a noisy win/no-win signal (tenpai reached a
few turns later).  Policy gradient with a running-mean baseline and an entropy
bonus, repeated over three seeds (the episode counter restarts per seed).
"""
import logging
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("discard")

N_FEAT, N_ACT = 8, 5
true_rng = np.random.default_rng(1234)
W_TRUE = true_rng.normal(0, 1.0, (N_FEAT, N_ACT))      # the table's hidden rule


def deal(rng, n):
    x = rng.normal(0, 1.0, (n, N_FEAT)).astype(np.float32)
    score = x @ W_TRUE
    p_win = 0.15 + 0.7 * np.exp(score) / np.exp(score).sum(1, keepdims=True)
    return x, np.clip(p_win, 0, 0.95)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 32)
        self.l2 = nn.Linear(32, N_ACT)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x)))


def pg_loss(model, x, a, adv, ent_coef):
    logits = model(x)
    logp = logits - mx.logsumexp(logits, axis=1, keepdims=True)
    chosen = mx.take_along_axis(logp, a[:, None], axis=1).squeeze(1)
    ent = -mx.sum(mx.exp(logp) * logp, axis=1).mean()
    return -(chosen * adv).mean() - ent_coef * ent, ent


summary = []
for seed in (11, 22, 33):
    rng = np.random.default_rng(seed)
    mx.random.seed(seed)
    model = Policy()
    opt = optim.Adam(learning_rate=3e-3)
    vg = nn.value_and_grad(model, pg_loss)
    baseline = 0.0
    xe, pe = deal(rng, 2000)
    oracle = pe.max(1).mean()
    rand_rate = pe.mean()
    log.info("seed %d: oracle win %.1f%%, random discard %.1f%%", seed, 100 * oracle, 100 * rand_rate)
    for ep in range(1, 601):
        x, p = deal(rng, 64)
        logits = model(mx.array(x))
        a = mx.random.categorical(logits)
        mx.eval(a)
        an = np.array(a)
        r = (rng.random(64) < p[np.arange(64), an]).astype(np.float32)
        adv = r - baseline
        baseline = 0.95 * baseline + 0.05 * r.mean()
        ent_coef = 0.02 * (1 - ep / 600)
        (loss, ent), grads = vg(model, mx.array(x), a, mx.array(adv), ent_coef)
        if ep == 1:
            norms = {k: float(mx.linalg.norm(v).item()) for k, v in tree_flatten(grads)}
            log.info("seed %d grad check: %s", seed, ", ".join(f"{k}={v:.2e}" for k, v in norms.items()))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, ent)
        if ep in (1, 25) or ep % 100 == 0:
            greedy = np.array(mx.argmax(model(mx.array(xe)), axis=1))
            win = pe[np.arange(len(pe)), greedy].mean()
            log.info("seed %d ep %3d | surrogate %+.4f | entropy %.3f nats | batch wins %2d/64 | greedy %.1f%% (oracle %.1f%%)",
                     seed, ep, loss.item(), ent.item(), int(r.sum()), 100 * win, 100 * oracle)
    summary.append((seed, win, oracle, rand_rate))

log.info("---- summary over seeds ----")
for seed, win, oracle, rr in summary:
    log.info("seed %d: greedy %.1f%%  random %.1f%%  oracle %.1f%%  gap closed %.0f%%",
             seed, 100 * win, 100 * rr, 100 * oracle, 100 * (win - rr) / (oracle - rr))
