# Harbour gangway ramp setter: a policy picks one of 7 hydraulic ramp notches for
# each arriving passenger boat given tide height, boat freeboard, swell and the
# share of wheelchair / pram passengers.  Reward = minus boarding time in seconds
# (higher is better), noisy.  REINFORCE with a learned baseline head, 3 seeds.
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

NOTCHES = 7
ROUNDS = 500
BOATS = 64


def boats(rng, n):
    tide = rng.uniform(-1.5, 1.5, n)          # m relative to pontoon datum
    freeboard = rng.uniform(0.4, 2.2, n)      # m
    swell = rng.exponential(0.25, n)          # m
    mobility = rng.beta(1.5, 6, n)            # share of step-free passengers
    ctx = np.stack([tide, freeboard - 1.3, swell, mobility], 1).astype(np.float32)
    # the notch that lines the ramp up with the deck
    ideal = np.clip(np.round(3 + 2.2 * (freeboard - 1.3) - 1.6 * tide), 0, NOTCHES - 1)
    return ctx, ideal


def boarding_seconds(rng, notch, ideal, ctx):
    miss = np.abs(notch - ideal)
    base = 22 + 9 * miss + 25 * ctx[:, 3] * miss + 14 * ctx[:, 2]
    return base + rng.normal(0, 6, len(notch))


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh())
        self.pi = nn.Linear(48, NOTCHES)
        self.v = nn.Linear(48, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.pi(h), self.v(h).squeeze(-1)


def pg_loss(model, ctx, acts, rewards):
    logits, value = model(ctx)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    chosen = mx.take_along_axis(logp, acts[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(rewards - value)
    probs = mx.softmax(logits, axis=-1)
    entropy = -mx.sum(probs * logp, axis=-1).mean()
    actor = -(chosen * adv).mean()
    critic = ((value - rewards) ** 2).mean()
    return actor + 0.5 * critic - 0.01 * entropy, (actor, critic, entropy)


def run_seed(seed):
    rng = np.random.default_rng(seed)
    mx.random.seed(seed)
    model = Policy()
    mx.eval(model.parameters())
    opt = optim.RMSprop(learning_rate=3e-3, alpha=0.95)
    vg = nn.value_and_grad(model, lambda m, c, a, r: pg_loss(m, c, a, r)[0])
    rows = []
    window = []
    for rnd in range(1, ROUNDS + 1):
        ctx_np, ideal = boats(rng, BOATS)
        ctx = mx.array(ctx_np)
        logits, _ = model(ctx)
        acts = mx.random.categorical(logits)
        acts_np = np.array(acts)
        secs = boarding_seconds(rng, acts_np, ideal, ctx_np)
        r = mx.array((-secs / 30.0).astype(np.float32))   # scaled reward
        loss, grads = vg(model, ctx, acts, r)
        if rnd == 1:
            from mlx.utils import tree_flatten
            dead = [k for k, g in tree_flatten(grads) if mx.abs(g).max().item() == 0]
            assert not dead, dead
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(-secs.mean())
        if rnd % 100 == 0:
            _, (a, c, e) = pg_loss(model, ctx, acts, r)
            greedy = np.array(mx.argmax(model(ctx)[0], axis=-1))
            hit = float((greedy == ideal).mean())
            rows.append((rnd, np.mean(window), a.item(), c.item(), e.item(), hit))
            window = []
    # oracle reference on a fresh harbour day
    ctx_np, ideal = boats(rng, 4000)
    greedy = np.array(mx.argmax(model(mx.array(ctx_np))[0], axis=-1))
    got = -boarding_seconds(rng, greedy, ideal, ctx_np).mean()
    oracle = -boarding_seconds(rng, ideal, ideal, ctx_np).mean()
    rand = -boarding_seconds(rng, rng.integers(0, NOTCHES, 4000), ideal, ctx_np).mean()
    return rows, got, oracle, rand


summary = []
for seed in (11, 12, 13):
    rows, got, oracle, rand = run_seed(seed)
    print(f"== seed {seed} ==")
    print(f"{'round':>6} {'reward(-s)':>11} {'actor':>8} {'critic':>8} {'H(nats)':>8} {'notch-hit':>9}")
    for rnd, rew, a, c, e, hit in rows:
        print(f"{rnd:>6} {rew:>11.2f} {a:>8.3f} {c:>8.4f} {e:>8.3f} {hit:>8.1%}")
    print(f"  greedy day: {got:.2f} s-reward | oracle {oracle:.2f} | uniform-random {rand:.2f}")
    summary.append((seed, got, oracle, rand))

print("seed  greedy  oracle  random  gap-closed")
for seed, got, oracle, rand in summary:
    print(f"{seed:>4} {got:>7.2f} {oracle:>7.2f} {rand:>7.2f} {100 * (got - rand) / (oracle - rand):>9.1f}%")
