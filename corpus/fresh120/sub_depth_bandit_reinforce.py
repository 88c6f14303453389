"""Patrol-depth chooser for a survey submarine, trained as a contextual bandit.

Each patrol the boat reads 10 sonar/CTD channels and picks one of 5 depth
bands; it gets reward 1 if the survey at that depth is clean (Bernoulli with
a made-up success law). REINFORCE with a learned baseline (value head); the
advantage is stop_gradient'ed so the baseline is only fit by its own loss.
The sonar front end is a fixed filterbank (a Linear layer with hand-set
weights, frozen on purpose); everything after it trains with plain SGD
written by hand over tree_map.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

N_CH, N_BANDS = 10, 5
BANDS = ["50m", "120m", "200m", "320m", "450m"]


class Ocean:
    """Simulator: a latent thermocline depth and turbidity drive the odds."""

    def __init__(self, seed, world=2024):
        # the sensor mixing is a property of the boat (fixed by `world`);
        # `seed` only drives which patrols come up
        self.mix = np.random.default_rng(world).normal(0, 1, (3, N_CH)).astype(np.float32)
        self.rng = np.random.default_rng(seed)
        self.centres = np.linspace(-1.6, 1.6, N_BANDS)

    def patrols(self, n):
        z = self.rng.normal(0, 1, (n, 3)).astype(np.float32)   # thermocline, turbidity, current
        x = z @ self.mix + 0.3 * self.rng.normal(0, 1, (n, N_CH)).astype(np.float32)
        # success prob peaks at the band nearest the thermocline, turbidity hurts shallow bands
        dist = (z[:, :1] - self.centres[None, :]) ** 2
        shallow_pen = np.maximum(z[:, 1:2], 0) * np.linspace(0.9, 0.0, N_BANDS)[None, :]
        p = 1.0 / (1.0 + np.exp(-(1.2 - 1.5 * dist - shallow_pen)))
        return x, p.astype(np.float32)


class DepthPolicy(nn.Module):
    def __init__(self, filterbank):
        super().__init__()
        self.sonar = nn.Linear(N_CH, 24)
        self.sonar.weight = mx.array(filterbank)
        self.sonar.bias = mx.zeros((24,))
        self.sonar.freeze()                      # fixed front end, on purpose
        self.body = nn.Linear(24, 128)
        self.pi = nn.Linear(128, N_BANDS)
        self.v = nn.Linear(128, 1)

    def __call__(self, x):
        f = mx.tanh(self.sonar(x))
        h = mx.tanh(self.body(f))
        return self.pi(h), self.v(h).squeeze(-1)


def filterbank(seed):
    # a fixed bank of cosine-windowed channel combinations, unit-norm rows
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 1, (24, N_CH)) * np.cos(np.linspace(0, math.pi, N_CH))[None, :] ** 2
    w += 0.2 * rng.normal(0, 1, (24, N_CH))
    return (w / np.linalg.norm(w, axis=1, keepdims=True)).astype(np.float32)


def pg_loss(model, x, actions, rewards, ent_coef):
    logits, value = model(x)
    logp_all = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp = mx.take_along_axis(logp_all, actions[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(rewards - value)
    policy = -(adv * logp).mean()
    baseline = 0.5 * ((value - rewards) ** 2).mean()
    entropy = -(mx.exp(logp_all) * logp_all).sum(-1).mean()
    return policy + baseline - ent_coef * entropy, (policy, baseline, entropy)


def main():
    ocean = Ocean(seed=11)
    mx.random.seed(3)
    model = DepthPolicy(filterbank(5))
    sonar_before = np.array(model.sonar.weight)
    lr, batch, steps, ent_coef = 0.2, 256, 2000, 0.01
    vg = nn.value_and_grad(model, pg_loss)

    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"Depth bands {', '.join(BANDS)}; {n_train} trainable of {n_all} weights "
          f"(sonar filterbank frozen).")

    # held-out ocean states for the greedy-policy check
    x_eval, p_eval = Ocean(seed=99).patrols(4000)
    x_eval_mx = mx.array(x_eval)
    best_eval = p_eval.max(1).mean()
    rand_eval = p_eval.mean()
    print(f"Held-out patrols: a random band is clean {100 * rand_eval:.1f}% of the time, "
          f"the best band {100 * best_eval:.1f}%.")

    def greedy_report():
        logits, _ = model(x_eval_mx)
        pick = np.array(mx.argmax(logits, axis=-1))
        got = p_eval[np.arange(len(pick)), pick]
        return 100 * got.mean(), 100 * np.mean(pick == p_eval.argmax(1)), best_eval - got.mean()

    t0 = time.time()
    window = []
    for step in range(1, steps + 1):
        x, p = ocean.patrols(batch)
        xm = mx.array(x)
        logits, _ = model(xm)
        actions = mx.random.categorical(logits)
        a_np = np.array(actions)
        rewards = (ocean.rng.random(batch) < p[np.arange(batch), a_np]).astype(np.float32)
        (loss, (pol, base, ent)), grads = vg(model, xm, actions, mx.array(rewards), ent_coef)

        if step == 1:
            flat = tree_flatten(grads)
            dead = [k for k, g in flat if float(mx.abs(g).max().item()) == 0.0]
            print(f"First update: gradients for {len(flat)} trainable leaves "
                  f"({', '.join(k for k, _ in flat)}); all-zero leaves: {dead or 'none'}.")

        new_params = tree_map(lambda w, g: w - lr * g, model.trainable_parameters(), grads)
        model.update(new_params)
        mx.eval(model.parameters(), loss, pol, base, ent)
        window.append((loss.item(), rewards.mean(), ent.item()))

        if step % 250 == 0:
            w = np.array(window)
            window = []
            clean, right, regret = greedy_report()
            print(f"After {step} batches ({step * batch} patrols): surrogate loss {w[:, 0].mean():+.4f}, "
                  f"sampled clean rate {100 * w[:, 1].mean():.1f}%, policy entropy {w[:, 2].mean():.3f} nats; "
                  f"greedy on held-out: clean {clean:.1f}%, best band chosen {right:.1f}%, "
                  f"regret {regret:.3f}. ({time.time() - t0:.1f}s)")

    drift = float(np.abs(np.array(model.sonar.weight) - sonar_before).max())
    clean, right, regret = greedy_report()
    print(f"Finished {steps} batches in {time.time() - t0:.1f}s. Greedy clean rate {clean:.1f}% "
          f"(random {100 * rand_eval:.1f}%, oracle {100 * best_eval:.1f}%). "
          f"Sonar filterbank max change: {drift}.")


if __name__ == "__main__":
    main()
