"""Contextual 8-armed Bernoulli bandit solved with REINFORCE (softmax policy,
running-mean reward baseline, entropy bonus), RMSprop. Reports go through the
logging module; the objective is noisy by nature."""
import logging
import sys

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(relativeCreated)7.0fms %(levelname)-5s [bandit] %(message)s")
log = logging.getLogger("bandit")

K, D = 8, 10
rng = np.random.default_rng(11)
mx.random.seed(11)
W_true = rng.normal(0, 0.45, size=(K, D)).astype(np.float32)
b_true = rng.normal(-0.3, 0.5, size=(K,)).astype(np.float32)


def contexts(n):
    return rng.normal(0, 1, size=(n, D)).astype(np.float32)


def arm_probs(x):
    return 1.0 / (1.0 + np.exp(-(x @ W_true.T + b_true)))


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.l2 = nn.Linear(64, K)

    def __call__(self, x):
        return self.l2(nn.tanh(self.l1(x)))


def pg_loss(pi, x, a, adv, beta):
    logits = pi(x)
    logp = logits - mx.logsumexp(logits, axis=1, keepdims=True)
    chosen = mx.take_along_axis(logp, a[:, None], axis=1).squeeze(1)
    ent = -(mx.exp(logp) * logp).sum(axis=1).mean()
    return -(chosen * adv).mean() - beta * ent


pi = Policy()
mx.eval(pi.parameters())
opt = optim.RMSprop(learning_rate=7e-4, alpha=0.95)
grad_fn = nn.value_and_grad(pi, pg_loss)

# leaf check with a fake advantage of +/-1 so every path carries signal
x0 = mx.array(contexts(256))
a0 = mx.array(rng.integers(0, K, 256).astype(np.int32))
_, g0 = grad_fn(pi, x0, a0, mx.array(rng.choice([-1.0, 1.0], 256).astype(np.float32)), 0.01)
flat = tree_flatten(g0)
log.info("grad leaves %d, all-zero leaves %d", len(flat), sum(float(mx.abs(v).max()) == 0 for _, v in flat))

x_eval = contexts(4000)
p_eval = arm_probs(x_eval)
oracle = p_eval.max(axis=1).mean()
log.info("oracle expected reward %.3f | uniform-random policy %.3f", oracle, p_eval.mean())

baseline = 0.0
B, ITERS = 128, 3000
window = []
for it in range(1, ITERS + 1):
    x = contexts(B)
    logits = pi(mx.array(x))
    a = mx.random.categorical(logits)
    a_np = np.array(a)
    r = (rng.random(B) < arm_probs(x)[np.arange(B), a_np]).astype(np.float32)
    adv = r - baseline
    baseline = 0.95 * baseline + 0.05 * float(r.mean())
    beta = 0.02 * max(0.0, 1.0 - it / 2000)
    loss, grads = grad_fn(pi, mx.array(x), a, mx.array(adv), beta)
    opt.update(pi, grads)
    mx.eval(pi.parameters(), opt.state)
    window.append(float(r.mean()))
    if it % 300 == 0:
        greedy = np.array(mx.argmax(pi(mx.array(x_eval)), axis=1))
        greedy_r = p_eval[np.arange(len(x_eval)), greedy].mean()
        log.info("it %4d  sampled reward (last 300) %.3f  greedy expected %.3f  regret/round %.3f  baseline %.3f",
                 it, np.mean(window), greedy_r, oracle - greedy_r, baseline)
        window = []

log.info("finished: greedy policy recovers %.1f%% of the oracle reward", 100 * greedy_r / oracle)
