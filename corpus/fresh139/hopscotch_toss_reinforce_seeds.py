# Hopscotch stone toss: a policy picks one of 12 throw-strength settings so that the
# stone lands in the called square (1..8). Landing depends on the child's height and arm
# speed plus wind-like noise. Trained with REINFORCE + running-mean baseline + entropy
# bonus, repeated for three seeds (the step counter restarts for each seed).
import logging
import sys
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s.%(msecs)03d %(levelname)s hopscotch: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("hopscotch")

N_BINS, N_SQ = 12, 8
STRENGTHS = np.linspace(0.35, 1.0, N_BINS)


def sample_kids(rng, n):
    height = rng.uniform(0.95, 1.55, n)      # m
    arm = rng.uniform(0.7, 1.3, n)           # relative arm speed
    target = rng.integers(0, N_SQ, n)        # called square (0-based)
    return height, arm, target


def features(height, arm, target):
    onehot = np.eye(N_SQ, dtype=np.float32)[target]
    cont = np.stack([(height - 1.25) / 0.17, (arm - 1.0) / 0.17], 1).astype(np.float32)
    return np.concatenate([cont, onehot], 1)


def landing_square(rng, height, arm, strength):
    dist = 3.4 * strength * arm * (0.75 + 0.25 * height) + rng.normal(0, 0.12, len(strength))
    return np.floor(dist / 0.42).astype(np.int64) - 1   # square index, -1 = short of the grid


class TossPolicy(nn.Module):
    def __init__(self):
        super().__init__()
        self.h1 = nn.Linear(2 + N_SQ, 64)
        self.h2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, N_BINS)

    def __call__(self, x):
        return self.head(nn.relu(self.h2(nn.relu(self.h1(x)))))


def pg_loss(policy, x, actions, adv, beta):
    logits = policy(x)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    chosen = mx.take_along_axis(logp, actions[:, None], axis=-1).squeeze(-1)
    ent = -mx.sum(mx.exp(logp) * logp, axis=-1).mean()
    return -(chosen * adv).mean() - beta * ent, ent


def run_seed(seed, steps=240, batch=256):
    rng = np.random.default_rng(seed)
    mx.random.seed(seed)
    policy = TossPolicy()
    opt = optim.Adam(learning_rate=4e-3)
    vg = nn.value_and_grad(policy, pg_loss)
    ev_h, ev_a, ev_t = sample_kids(np.random.default_rng(1000), 2000)
    ev_x = mx.array(features(ev_h, ev_a, ev_t))
    ev_rng = np.random.default_rng(2000)
    baseline = 0.0
    for step in range(1, steps + 1):
        h, a, t = sample_kids(rng, batch)
        x = mx.array(features(h, a, t))
        logits = policy(x)
        actions = mx.random.categorical(logits)
        act_np = np.array(actions)
        hit = (landing_square(rng, h, a, STRENGTHS[act_np]) == t).astype(np.float32)
        adv = mx.array(hit - baseline)
        baseline = 0.9 * baseline + 0.1 * float(hit.mean())
        beta = 0.02 * max(0.0, 1.0 - step / 160)
        (loss, ent), grads = vg(policy, x, actions, adv, beta)
        if step == 1:
            zero = [k for k, g in nn.utils.tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
            log.info("seed %d grad check: %d tensors, all-zero: %s", seed,
                     len(nn.utils.tree_flatten(grads)), zero or "none")
        opt.update(policy, grads)
        mx.eval(policy.parameters(), opt.state, loss, ent)
        if step % 30 == 0 or step == 1:
            greedy = np.array(mx.argmax(policy(ev_x), axis=-1))
            g_hit = (landing_square(ev_rng, ev_h, ev_a, STRENGTHS[greedy]) == ev_t).mean()
            log.info("seed=%d step=%03d surrogate=%+.4f sampled_hit=%5.1f%% greedy_hit=%5.1f%% "
                     "(uniform throw %4.1f%%) entropy=%.3f nats beta=%.4f",
                     seed, step, loss.item(), 100 * hit.mean(), 100 * g_hit,
                     100 * uniform_rate, ent.item(), beta)
    greedy = np.array(mx.argmax(policy(ev_x), axis=-1))
    return float((landing_square(ev_rng, ev_h, ev_a, STRENGTHS[greedy]) == ev_t).mean())


# reference: how often a uniformly random throw lands in the called square
_r = np.random.default_rng(7)
_h, _a, _t = sample_kids(_r, 20000)
uniform_rate = float((landing_square(_r, _h, _a, STRENGTHS[_r.integers(0, N_BINS, 20000)]) == _t).mean())

results = {}
for seed in (11, 22, 33):
    results[seed] = run_seed(seed)
    log.info("seed %d finished: greedy hit rate %.1f%%", seed, 100 * results[seed])
vals = np.array(list(results.values()))
log.info("sweep summary: mean %.1f%% +- %.1f%% over %d seeds (uniform throw %.1f%%)",
         100 * vals.mean(), 100 * vals.std(), len(vals), 100 * uniform_rate)
