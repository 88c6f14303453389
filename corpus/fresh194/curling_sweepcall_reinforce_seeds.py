"""Curling sweep-call picker: contextual bandit trained with REINFORCE + learned baseline.

Each delivery has a context (release speed offset, line offset, ice keenness). The skip
chooses one of 4 sweep calls; reward is minus the stop-distance miss (m) with noise.
Three seeds are trained from scratch one after another.
"""
import logging
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
log = logging.getLogger("sweepcall")

CALLS = ["no-sweep", "light", "hard", "late-hard"]
CARRY = mx.array([0.0, 0.45, 1.05, 0.7])  # metres of extra carry per call


def expected_miss(ctx):
    # stone would stop short/long of target by `base` metres without sweeping
    base = -0.9 * ctx[:, 0] - 0.35 * ctx[:, 2] + 0.25 * ctx[:, 1] ** 2 - 0.55
    return mx.abs(base[:, None] + CARRY[None, :])  # (N, 4)


def sample_contexts(n):
    return mx.random.normal((n, 3))


class SkipPolicy(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.logits = nn.Linear(hidden, len(CALLS))
        self.value = nn.Linear(hidden, 1)

    def __call__(self, ctx):
        h = self.body(ctx)
        return self.logits(h), self.value(h).squeeze(-1)


def pg_loss(model, ctx, actions, rewards):
    logits, v = model(ctx)
    logp_all = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp = mx.take_along_axis(logp_all, actions[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(rewards - v)
    entropy = -(mx.exp(logp_all) * logp_all).sum(axis=-1).mean()
    policy = -(logp * adv).mean()
    critic = 0.5 * ((v - rewards) ** 2).mean()
    return policy + critic - 0.01 * entropy, (critic, entropy)


UPDATES, BATCH, PEAK_LR, WARM = 240, 96, 3e-3, 40
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK_LR, WARM), optim.cosine_decay(PEAK_LR, UPDATES - WARM, 3e-4)], [WARM]
)

mx.random.seed(1234)
eval_ctx = sample_contexts(2000)
eval_miss = expected_miss(eval_ctx)
oracle_r = -eval_miss.min(axis=1).mean().item()
random_r = -eval_miss.mean().item()
log.info("eval set: oracle reward %.3f m, uniform-random reward %.3f m", oracle_r, random_r)

summary = []
for seed in (11, 22, 33):
    mx.random.seed(seed)
    model = SkipPolicy()
    mx.eval(model.parameters())
    opt = optim.RMSprop(learning_rate=schedule, alpha=0.95)
    grad_fn = nn.value_and_grad(model, pg_loss)
    for upd in range(UPDATES):
        ctx = sample_contexts(BATCH)
        logits, _ = model(ctx)
        actions = mx.random.categorical(logits)
        miss = mx.take_along_axis(expected_miss(ctx), actions[:, None], axis=-1).squeeze(-1)
        rewards = -(miss + 0.3 * mx.abs(mx.random.normal(miss.shape)))
        (loss, (critic, ent)), grads = grad_fn(model, ctx, actions, rewards)
        lr_now = opt.learning_rate.item()
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, critic, ent, rewards)
        if upd == 0:
            zero = [k for k, g in __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(grads)
                    if mx.abs(g).sum().item() == 0]
            log.info("seed %d grad check: %d zero-grad tensors %s", seed, len(zero), zero)
        if upd % 40 == 0 or upd == UPDATES - 1:
            greedy = mx.argmax(model(eval_ctx)[0], axis=-1)
            r = -mx.take_along_axis(eval_miss, greedy[:, None], axis=-1).mean().item()
            regret = 100.0 * (r - oracle_r) / (random_r - oracle_r)
            log.info(
                "seed=%d upd=%03d lr=%.2e batch_reward=%.3f greedy_reward=%.3f (oracle %.3f) regret=%.1f%% H=%.2f nats critic=%.3f",
                seed, upd, lr_now, rewards.mean().item(), r, oracle_r, regret, ent.item(), critic.item(),
            )
    summary.append((seed, r, regret))

print("seed | greedy reward (m) | regret vs random (%)")
for seed, r, regret in summary:
    print(f"{seed:>4} | {r:>17.3f} | {regret:>19.1f}")
print(f"mean | {sum(s[1] for s in summary) / 3:>17.3f} | {sum(s[2] for s in summary) / 3:>19.1f}")
