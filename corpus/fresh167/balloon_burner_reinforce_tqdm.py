# Hot-air balloon pilot: learn when to vent / hold / burn so the envelope arrives
# at the target altitude one minute later. Contextual bandit, REINFORCE with a
# running baseline and a small entropy bonus.  Progress lines imitate tqdm.
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

ACTIONS = ("vent", "hold", "burn")
KICK = np.array([-1.4, 0.0, 1.4])          # change in climb rate (m/s) per action
ITERS, BATCH = 400, 128


def sample_states(rng, n):
    err = rng.uniform(-150, 150, n)        # target altitude minus altitude (m)
    climb = rng.normal(0, 1.5, n)          # current vertical speed (m/s)
    gust = rng.normal(0, 1.0, n)           # envelope temperature anomaly
    return np.stack([err, climb, gust], 1)


def reward_of(states, acts, rng):
    err, climb, gust = states[:, 0], states[:, 1], states[:, 2]
    new_climb = climb + KICK[acts] + 0.3 * gust + rng.normal(0, 0.2, len(acts))
    dz = 30.0 * (climb + new_climb)        # trapezoid over 60 s
    return -np.abs(err - dz) / 100.0       # miss distance in hectometres, negated


def to_inputs(states):
    return mx.array((states / np.array([100.0, 1.5, 1.0])).astype(np.float32))


class Pilot(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 24), nn.Tanh(), nn.Linear(24, 24), nn.Tanh())
        self.head = nn.Linear(24, 3)

    def __call__(self, x):
        return self.head(self.body(x))


def pg_loss(model, x, acts, adv, beta):
    logits = model(x)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    chosen = mx.take_along_axis(logp, acts[:, None], axis=-1).squeeze(-1)
    ent = -mx.sum(mx.exp(logp) * logp, axis=-1).mean()
    return -(chosen * adv).mean() - beta * ent, ent


def bar(i, n, width=24):
    f = int(width * i / n)
    return "#" * f + "." * (width - f)


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    pilot = Pilot()
    opt = optim.Adam(learning_rate=3e-3)
    vg = nn.value_and_grad(pilot, pg_loss)
    baseline = None

    evals = sample_states(np.random.default_rng(99), 2000)
    ex = to_inputs(evals)
    erng = np.random.default_rng(5)
    rand_r = reward_of(evals, erng.integers(0, 3, len(evals)), np.random.default_rng(6)).mean()
    hold_r = reward_of(evals, np.ones(len(evals), int), np.random.default_rng(6)).mean()

    first_checked = False
    for it in range(1, ITERS + 1):
        states = sample_states(rng, BATCH)
        x = to_inputs(states)
        logits = pilot(x)
        acts = mx.random.categorical(logits)
        acts_np = np.array(acts)
        r = reward_of(states, acts_np, rng)
        baseline = r.mean() if baseline is None else 0.9 * baseline + 0.1 * r.mean()
        adv = mx.array(((r - baseline) / (r.std() + 1e-6)).astype(np.float32))
        beta = 0.02 * (1 - it / ITERS)
        (loss, ent), grads = vg(pilot, x, acts, adv, beta)
        if not first_checked:
            zero = [k for k, g in nn.utils.tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
            print(f"[check] grad tensors={len(nn.utils.tree_flatten(grads))} all-zero={zero}")
            first_checked = True
        gnorm = mx.sqrt(sum(mx.sum(g * g) for _, g in nn.utils.tree_flatten(grads)))
        opt.update(pilot, grads)
        mx.eval(pilot.parameters(), opt.state, loss, ent, gnorm)
        if it % 40 == 0 or it == 1:
            pct = 100 * it // ITERS
            rate = it / (time.time() - t0)
            sys.stdout.write(f"balloon-pg {pct:3d}%|{bar(it, ITERS)}| {it}/{ITERS} "
                             f"[{rate:5.1f}it/s, ret={r.mean():+.3f}, base={baseline:+.3f}, "
                             f"H={ent.item():.3f}, |g|={gnorm.item():.3f}]\n")

    greedy = np.array(mx.argmax(pilot(ex), axis=-1))
    greedy_r = reward_of(evals, greedy, np.random.default_rng(6)).mean()
    oracle = np.stack([reward_of(evals, np.full(len(evals), a), np.random.default_rng(6)) for a in range(3)], 1)
    oracle_r = oracle.max(1).mean()
    counts = np.bincount(greedy, minlength=3)
    print("\n== flight review (2000 held-out situations, miss in hm, higher = closer) ==")
    print(f"  random pilot   {rand_r:+.3f}")
    print(f"  always hold    {hold_r:+.3f}")
    print(f"  learned pilot  {greedy_r:+.3f}   ({greedy_r * -100:.1f} m mean miss)")
    print(f"  oracle (hindsight) {oracle_r:+.3f}")
    print("  action mix     " + ", ".join(f"{a}={c}" for a, c in zip(ACTIONS, counts)))
    print(f"  wall {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
