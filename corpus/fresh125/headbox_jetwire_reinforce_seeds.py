# Paper machine headbox: a softmax policy picks the jet-to-wire speed ratio for each
# furnish (pulp) condition; reward is the lab tensile index of the sheet (N*m/g, noisy).
# REINFORCE with a batch-mean baseline + entropy bonus, RMSprop, 3 seeds.
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

RATIOS = np.array([0.96, 0.98, 1.00, 1.02, 1.04])
NOISE = 10.0
STEPS, BATCH = 300, 128


def furnish(rng, n):
    # standardised: freeness, consistency, fibre length, machine speed
    return rng.normal(0.0, 1.0, (n, 4)).astype(np.float32)


def expected_tensile(ctx, ratio):
    best = 1.0 + 0.03 * np.tanh(1.2 * ctx[:, 0] - 0.8 * ctx[:, 2] + 0.6 * ctx[:, 1] * ctx[:, 3])
    base = 62.0 + 3.0 * ctx[:, 2] - 2.0 * ctx[:, 0]
    return base - 8000.0 * (ratio - best) ** 2


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = [nn.Linear(4, 64), nn.Linear(64, 64)]
        self.head = nn.Linear(64, len(RATIOS))

    def __call__(self, x):
        for lin in self.body:
            x = nn.gelu(lin(x))
        return self.head(x)


def pg_loss(pol, ctx, act, adv):
    logits = pol(ctx)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    chosen = mx.take_along_axis(logp, act[:, None], axis=-1).squeeze(-1)
    ent = -mx.sum(mx.exp(logp) * logp, axis=-1).mean()
    return -mx.mean(chosen * adv) - 0.01 * ent, ent


def bar(frac, width=10):
    k = int(round(frac * width))
    return "\u2588" * k + " " * (width - k)


summary = []
for seed in (1, 2, 3):
    rng = np.random.default_rng(seed)
    mx.random.seed(seed)
    eval_ctx = furnish(rng, 2000)
    grid = np.stack([expected_tensile(eval_ctx, r) for r in RATIOS], 1)
    oracle, uniform = grid.max(1).mean(), grid.mean()

    pol = Policy()
    mx.eval(pol.parameters())
    opt = optim.RMSprop(learning_rate=7e-4, alpha=0.95)
    vg = nn.value_and_grad(pol, pg_loss)

    def greedy_score():
        a = np.array(mx.argmax(pol(mx.array(eval_ctx)), axis=-1))
        return grid[np.arange(len(a)), a].mean()

    start = greedy_score()
    for step in range(1, STEPS + 1):
        ctx = furnish(rng, BATCH)
        logits = pol(mx.array(ctx))
        act = mx.random.categorical(logits)
        a_np = np.array(act)
        reward = expected_tensile(ctx, RATIOS[a_np]) + rng.normal(0.0, NOISE, BATCH)
        adv = (reward - reward.mean()) / (reward.std() + 1e-6)
        (loss, ent), grads = vg(pol, mx.array(ctx), act, mx.array(adv.astype(np.float32)))
        if step == 1:
            dead = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
            print(f"seed {seed}: {len(tree_flatten(grads))} grad tensors, all-zero: {dead or 'none'}")
        opt.update(pol, grads)
        mx.eval(pol.parameters(), opt.state, loss, ent)
        if step % 60 == 0:
            g = greedy_score()
            closed = 100.0 * (g - uniform) / (oracle - uniform)
            print(f"seed {seed}: {100 * step // STEPS:3d}%|{bar(step / STEPS)}| {step}/{STEPS} "
                  f"[batch reward {reward.mean():.1f} N*m/g, greedy {g:.2f} vs oracle {oracle:.2f}, "
                  f"gap closed {closed:.1f}%, H={ent.item():.2f} nats]")
    end = greedy_score()
    summary.append((seed, uniform, start, end, oracle))

print("\nseed | uniform  | greedy@0 | greedy@end | oracle   (tensile index, N*m/g)")
for seed, u, s, e, o in summary:
    print(f"  {seed}  | {u:8.2f} | {s:8.2f} | {e:10.2f} | {o:8.2f}")
gap = np.mean([100 * (e - u) / (o - u) for _, u, _, e, o in summary])
print(f"mean gap closed over seeds: {gap:.1f}%")
