# Cannery retort room: learn which sterilisation hold time to pick for each
# batch of cans (contextual bandit, REINFORCE with a learned baseline).
# Reward per batch = -(spoilage risk % + texture loss %), so closer to 0 is better.
import logging
import math
import sys

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s retort: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("retort")

HOLDS = np.array([8.0, 12.0, 16.0, 20.0, 25.0, 30.0, 40.0])   # minutes at 121 C
N_FEAT = 6


def sample_batches(rng, n):
    can_d = rng.uniform(0.5, 1.5, n)       # can diameter (relative)
    fill = rng.uniform(0.0, 1.0, n)        # solids share (slow heating)
    load = rng.uniform(0.0, 1.0, n)        # initial spore load (log-scaled)
    acid = rng.uniform(0.0, 1.0, n)        # acidity (acid foods need less)
    delicate = rng.uniform(0.0, 1.0, n)    # how fast texture breaks down
    start_t = rng.uniform(0.0, 1.0, n)     # fill temperature
    X = np.stack([can_d - 1, fill - 0.5, load - 0.5, acid - 0.5, delicate - 0.5, start_t - 0.5], 1)
    need = 10 + 14 * can_d * (0.6 + 0.8 * fill) + 8 * load - 9 * acid - 4 * start_t
    return X.astype(np.float32), need, delicate


def rewards_for(rng, hold, need, delicate):
    spoil = 100 / (1 + np.exp((hold - need) / 1.8))                 # % risk
    texture = (0.5 + 1.5 * delicate) * np.maximum(hold - need, 0)  # % loss
    noise = rng.normal(0, 2.0, hold.shape)                          # inspection noise
    return -(spoil + texture) + noise


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_FEAT, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh())
        self.logits = nn.Linear(48, len(HOLDS))
        self.value = nn.Linear(48, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.logits(h), self.value(h).squeeze(-1)


def loss_fn(model, x, actions, rew):
    logits, v = model(x)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    chosen = mx.take_along_axis(logp, actions[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(rew - v)
    adv = adv / (mx.sqrt(mx.mean(adv * adv)) + 1e-6)
    ent = -mx.sum(mx.softmax(logits, -1) * logp, -1).mean()
    pg = -(chosen * adv).mean()
    vloss = ((v - rew) ** 2).mean() / 100.0
    return pg + 0.5 * vloss - 0.01 * ent, (pg, vloss, ent)


def bar(i, n, width=20):
    k = int(width * i / n)
    return "#" * k + "." * (width - k)


def run(seed, rounds=700, batch=128):
    rng = np.random.default_rng(seed)
    mx.random.seed(seed)
    model = Policy()
    mx.eval(model.parameters())
    # learning rate ramps up from exactly 0
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 40),
                                  optim.cosine_decay(3e-3, rounds - 40, 3e-4)], [40])
    opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
    vg = nn.value_and_grad(model, lambda m, x, a, r: loss_fn(m, x, a, r)[0])

    Xe, need_e, del_e = sample_batches(np.random.default_rng(999), 2000)
    oracle = np.max(np.stack([-(100 / (1 + np.exp((h - need_e) / 1.8))
                                + (0.5 + 1.5 * del_e) * np.maximum(h - need_e, 0)) for h in HOLDS]), 0).mean()
    fixed20 = max((-(100 / (1 + np.exp((h - need_e) / 1.8)) + (0.5 + 1.5 * del_e) * np.maximum(h - need_e, 0))).mean()
                  for h in HOLDS)   # best single hold time for every batch

    for r in range(1, rounds + 1):
        X, need, delicate = sample_batches(rng, batch)
        xa = mx.array(X)
        logits, _ = model(xa)
        acts = mx.random.categorical(logits)
        a_np = np.array(acts)
        rew = rewards_for(rng, HOLDS[a_np], need, delicate).astype(np.float32)
        loss, grads = vg(model, xa, acts, mx.array(rew))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if r % 70 == 0 or r == 1:
            lg, _ = model(mx.array(Xe))
            greedy = HOLDS[np.array(mx.argmax(lg, -1))]
            ev = (-(100 / (1 + np.exp((greedy - need_e) / 1.8))
                    + (0.5 + 1.5 * del_e) * np.maximum(greedy - need_e, 0))).mean()
            log.info("seed %d |%s| %3d/%d  lr=%.2e  batch_reward=%.2f  greedy_eval=%.2f  "
                     "(oracle %.2f, best-fixed-hold %.2f)  loss=%.4f",
                     seed, bar(r, rounds), r, rounds, opt.learning_rate.item(),
                     float(rew.mean()), ev, oracle, fixed20, loss.item())
    return ev, oracle, fixed20


results = []
for seed in (11, 12):
    results.append(run(seed))
for seed, (ev, orc, f20) in zip((11, 12), results):
    log.info("summary seed %d: greedy %.2f | oracle %.2f | best-fixed-hold %.2f | gap closed %.0f%%",
             seed, ev, orc, f20, 100 * (ev - f20) / (orc - f20))
