# Ant colony forager: which of 5 food sources should a scout send the next
# wave of foragers to, given trail pheromone readings, nest temperature and the
# hour?  Food returned per trip is noisy, so the policy is trained with
# REINFORCE (running-mean baseline + small entropy bonus) under RMSprop.
# Three independent colonies (seeds), each with its own round counter.
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_SRC = 5
N_FEAT = 7
ROUNDS = 120
WAVE = 256


class Scout(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_FEAT, 40), nn.Tanh(), nn.Linear(40, 40), nn.Tanh())
        self.logits = nn.Linear(40, N_SRC)

    def __call__(self, x):
        return self.logits(self.body(x))


def world(seed):
    r = np.random.default_rng(seed)
    W = r.normal(0, 1.0, (N_FEAT, N_SRC)).astype(np.float32)
    b = r.normal(0, 0.3, N_SRC).astype(np.float32)

    def sample(n):
        pher = r.gamma(2.0, 1.0, (n, N_SRC))
        temp = r.normal(24.0, 4.0, (n, 1))
        hour = r.uniform(6, 20, (n, 1))
        x = np.concatenate([np.log1p(pher), (temp - 24.0) / 4.0, np.sin(hour / 24 * 2 * math.pi)], 1)
        return x.astype(np.float32)

    def food_mg(x, a):
        q = np.tanh(x @ W) * 3.0 + b + 6.0          # mean mg per trip for each source
        noise = r.normal(0, 2.5, len(a))
        return q[np.arange(len(a)), a] + noise, q

    return sample, food_mg


def train_colony(colony, seed):
    mx.random.seed(seed)
    sample, food_mg = world(seed)
    net = Scout()
    mx.eval(net.parameters())
    opt = optim.RMSprop(learning_rate=3e-3, alpha=0.95)
    baseline = None

    def pg_loss(model, x, a, adv):
        logp = nn.log_softmax(model(x), axis=-1)
        chosen = mx.take_along_axis(logp, a[:, None], axis=-1).squeeze(-1)
        ent = -(mx.exp(logp) * logp).sum(-1).mean()
        return -(chosen * adv).mean() - 0.01 * ent, ent

    step_fn = nn.value_and_grad(net, pg_loss)

    print(f"\ncolony {colony} (seed {seed})")
    print(f"{'round':>5} | {'food mg/trip':>12} | {'random':>7} | {'oracle':>7} | {'entropy':>7} | {'best-src %':>10}")
    print("-" * 66)
    for rnd in range(1, ROUNDS + 1):
        x = sample(WAVE)
        logits = net(mx.array(x))
        a = mx.random.categorical(logits)
        a_np = np.array(a)
        food, q = food_mg(x, a_np)
        baseline = food.mean() if baseline is None else 0.9 * baseline + 0.1 * food.mean()
        adv = (food - baseline) / (food.std() + 1e-6)
        (loss, ent), grads = step_fn(net, mx.array(x), a, mx.array(adv.astype(np.float32)))
        if rnd == 1 and colony == 1:
            zero = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
            print(f"  [check] {len(tree_flatten(grads))} grad tensors, all-zero: {zero or 'none'}")
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state, loss, ent)
        if rnd == 1 or rnd % 15 == 0:
            greedy = np.array(mx.argmax(net(mx.array(x)), axis=-1))
            best = (greedy == q.argmax(1)).mean() * 100
            print(f"{rnd:>5} | {food.mean():>12.2f} | {q.mean():>7.2f} | {q.max(1).mean():>7.2f} | "
                  f"{ent.item():>7.3f} | {best:>9.1f}%")
    x = sample(4000)
    greedy = np.array(mx.argmax(net(mx.array(x)), axis=-1))
    _, q = food_mg(x, greedy)
    got = q[np.arange(len(x)), greedy].mean()
    return got, q.mean(), q.max(1).mean()


summary = []
for colony, seed in enumerate([11, 23, 47], start=1):
    summary.append(train_colony(colony, seed))

print("\nheld-out waves (greedy scout), mean mg per trip")
for i, (got, rand, orc) in enumerate(summary, 1):
    print(f"  colony {i}: scout {got:.2f}   random {rand:.2f}   oracle {orc:.2f}   "
          f"gap closed {(got - rand) / (orc - rand) * 100:.0f}%")
