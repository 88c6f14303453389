# Geocaching search-strategy picker: a contextual bandit trained with REINFORCE.
# A cacher sees 6 listing features and picks one of 4 strategies; the find is
# a coin flip whose odds depend (made-up law) on the features and the strategy.
# Three seeds are swept; each restarts its own step counter.
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

STRATS = ["gps-only", "read-hint", "past-logs", "grid-sweep"]
W_TRUE = mx.array([
    # terr  diff  hint  canopy urban  dnf
    [-0.8, -1.2, 0.0, -1.5, 0.9, -0.6],   # gps-only: good in open urban spots
    [0.0, -0.4, 1.6, 0.2, -0.2, 0.0],     # read-hint: good when hint is long
    [-0.2, 0.3, 0.0, 0.4, 0.0, 1.5],      # past-logs: good after recent DNFs
    [1.0, 0.6, -0.5, 0.8, -1.0, 0.2],     # grid-sweep: good in rough forest terrain
])
B_TRUE = mx.array([0.3, -0.1, -0.3, -0.6])


def find_prob(ctx):
    return mx.sigmoid(ctx @ W_TRUE.T + B_TRUE)  # (n, 4)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 32)
        self.l2 = nn.Linear(32, 4)

    def __call__(self, x):
        return self.l2(nn.tanh(self.l1(x)))


def pg_loss(policy, ctx, acts, adv, ent_coef):
    logp_all = nn.log_softmax(policy(ctx), axis=-1)
    logp = mx.take_along_axis(logp_all, acts[:, None], axis=-1).squeeze(-1)
    ent = -(mx.exp(logp_all) * logp_all).sum(-1).mean()
    return -(logp * adv).mean() - ent_coef * ent


def bar(frac, width=20):
    full = int(frac * width)
    return "#" * full + "." * (width - full)


def run_seed(seed, steps=1000, batch=64):
    mx.random.seed(seed)
    policy = Policy()
    mx.eval(policy.parameters())
    opt = optim.RMSprop(learning_rate=1e-3, alpha=0.95)
    grad_fn = nn.value_and_grad(policy, pg_loss)
    eval_ctx = mx.random.normal((2000, 6))
    p_eval = find_prob(eval_ctx)
    oracle = p_eval.max(-1).mean().item()
    randp = p_eval.mean().item()
    baseline = 0.5
    window = []
    t0 = time.time()
    for step in range(1, steps + 1):
        ctx = mx.random.normal((batch, 6))
        logits = policy(ctx)
        acts = mx.random.categorical(logits)
        p = mx.take_along_axis(find_prob(ctx), acts[:, None], axis=-1).squeeze(-1)
        reward = (mx.random.uniform(shape=p.shape) < p).astype(mx.float32)
        adv = reward - baseline
        ent_coef = 0.02 * (1 - step / steps)
        loss, grads = grad_fn(policy, ctx, acts, adv, ent_coef)
        opt.update(policy, grads)
        mx.eval(policy.parameters(), opt.state, loss, reward)
        r = reward.mean().item()
        baseline = 0.9 * baseline + 0.1 * r
        window.append(r)
        if step % 200 == 0:
            greedy = policy(eval_ctx).argmax(-1)
            g = mx.take_along_axis(p_eval, greedy[:, None], axis=-1).mean().item()
            rate = step / (time.time() - t0)
            sys.stdout.write(
                f"seed {seed} {100*step//steps:3d}%|{bar(step/steps)}| {step}/{steps} "
                f"[{rate:.0f}it/s, find={sum(window)/len(window):.3f}, greedy={g:.3f}, "
                f"random={randp:.3f}, oracle={oracle:.3f}]\n")
            window = []
    greedy = policy(eval_ctx).argmax(-1)
    g = mx.take_along_axis(p_eval, greedy[:, None], axis=-1).mean().item()
    agree = (greedy == p_eval.argmax(-1)).astype(mx.float32).mean().item()
    counts = [int((greedy == k).sum().item()) for k in range(4)]
    return g, randp, oracle, agree, counts


def main():
    rows = []
    for seed in (3, 5, 8):
        rows.append((seed,) + run_seed(seed))
    print()
    print(f"{'seed':>4} | {'greedy':>6} | {'random':>6} | {'oracle':>6} | {'regret':>6} | {'match':>6} | " +
          " ".join(f"{s:>10}" for s in STRATS))
    print("-" * 96)
    for seed, g, rp, orc, agree, counts in rows:
        print(f"{seed:>4} | {g:6.3f} | {rp:6.3f} | {orc:6.3f} | {orc-g:6.3f} | {100*agree:5.1f}% | " +
              " ".join(f"{c:>10}" for c in counts))


if __name__ == "__main__":
    main()
