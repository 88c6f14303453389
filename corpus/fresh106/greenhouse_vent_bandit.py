# Greenhouse vent controller as a contextual bandit, trained with REINFORCE.
# A fixed random-feature "sensor encoder" is frozen on purpose (it stands in for
# a calibrated upstream module); only the policy and baseline heads learn.
# The update is hand-written SGD with momentum over tree_map.
# Output: CSV on stdout (one row per 250 episodes-batches).
import csv
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

N_ACTIONS = 5            # vent opening: 0%, 25%, 50%, 75%, 100%
SENSORS = 6
BATCH = 64
STEPS = 3000
REPORT = 250


def sample_context(rng, n):
    inside = rng.normal(27, 4, n)      # inside temperature, C
    outside = rng.normal(18, 6, n)     # outside temperature, C
    humid = rng.uniform(40, 95, n)     # RH %
    wind = rng.gamma(2.0, 2.0, n)      # m/s
    sun = rng.uniform(0, 1, n)         # radiation index
    rain = rng.binomial(1, 0.2, n)
    return np.stack([inside, outside, humid, wind, sun, rain], 1).astype(np.float32)


def true_best_open(ctx):
    inside, outside, humid, wind, sun, rain = ctx.T
    want = 0.5 + 0.08 * (inside - 25) + 0.01 * (humid - 70) - 0.05 * (wind - 4) \
        + 0.3 * sun - 0.6 * rain - 0.02 * (25 - outside)
    return np.clip(want, 0.0, 1.0)


def reward(rng, ctx, actions):
    opening = actions / (N_ACTIONS - 1)
    gap = opening - true_best_open(ctx)
    return (1.0 - 4.0 * gap ** 2 + rng.normal(0, 0.5, len(actions))).astype(np.float32)


class SensorEncoder(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.proj = nn.Linear(d_in, d_out)

    def __call__(self, x):
        return mx.cos(self.proj(x))      # random Fourier features


class VentPolicy(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = SensorEncoder(SENSORS, 128)
        self.hidden = nn.Linear(128, 64)
        self.logits = nn.Linear(64, N_ACTIONS)
        self.value = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.relu(self.hidden(self.encoder(x)))
        return self.logits(h), self.value(h).squeeze(-1)


def pg_loss(model, x, actions, rewards):
    logits, baseline = model(x)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp_a = mx.take_along_axis(logp, actions[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(rewards - baseline)
    adv = adv / (mx.std(adv) + 1e-6)
    policy = -mx.mean(adv * logp_a)
    value = mx.mean((baseline - rewards) ** 2)
    entropy = -mx.mean(mx.sum(mx.exp(logp) * logp, axis=-1))
    return policy + 0.5 * value - 0.05 * entropy, (policy, value, entropy)


class MomentumSGD:
    def __init__(self, lr, mom):
        self.lr, self.mom, self.buf = lr, mom, None

    def step(self, model, grads):
        if self.buf is None:
            self.buf = tree_map(mx.zeros_like, grads)
        self.buf = tree_map(lambda b, g: self.mom * b + g, self.buf, grads)
        new = tree_map(lambda p, b: p - self.lr * b, model.trainable_parameters(), self.buf)
        model.update(new)


def main():
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    model = VentPolicy()
    model.encoder.proj.weight = mx.random.normal((128, SENSORS)) * 0.8
    model.encoder.proj.bias = mx.random.uniform(0, 2 * np.pi, (128,))
    model.encoder.freeze()
    mu = np.array([27, 18, 67.5, 4, 0.5, 0.2], np.float32)
    sd = np.array([4, 6, 16, 2.8, 0.29, 0.4], np.float32)
    frozen_before = np.array(model.encoder.proj.weight)

    vg = nn.value_and_grad(model, pg_loss)
    opt = MomentumSGD(lr=0.004, mom=0.9)

    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["step", "mean_reward", "regret", "greedy_regret", "value_mse", "entropy_nats", "secs"])
    t0 = time.time()
    window_r, window_regret, window_v, window_h = [], [], [], []
    eval_ctx = sample_context(np.random.default_rng(99), 2000)
    eval_best = true_best_open(eval_ctx)
    eval_x = mx.array((eval_ctx - mu) / sd)
    for step in range(1, STEPS + 1):
        ctx = sample_context(rng, BATCH)
        x = mx.array((ctx - mu) / sd)
        logits, _ = model(x)
        acts = mx.random.categorical(logits)
        acts_np = np.array(acts)
        r = reward(rng, ctx, acts_np)
        (loss, (pol, val, ent)), grads = vg(model, x, acts, mx.array(r))
        if step == 1:
            flat = tree_flatten(grads)
            zeros = [k for k, g in flat if not bool(mx.any(g != 0))]
            print(f"# first step: {len(flat)} trainable leaves ({[k for k, _ in flat]}), zero-grad leaves: {zeros}")
        opt.step(model, grads)
        mx.eval(model.parameters(), opt.buf, val, ent)
        best = true_best_open(ctx)
        window_r.append(float(r.mean()))
        window_regret.append(float(np.mean(4.0 * (acts_np / (N_ACTIONS - 1) - best) ** 2)))
        window_v.append(val.item())
        window_h.append(ent.item())
        if step % REPORT == 0:
            g_logits, _ = model(eval_x)
            g_act = np.array(mx.argmax(g_logits, axis=-1))
            greedy_regret = float(np.mean(4.0 * (g_act / (N_ACTIONS - 1) - eval_best) ** 2))
            out.writerow([step, f"{np.mean(window_r):.4f}", f"{np.mean(window_regret):.4f}",
                          f"{greedy_regret:.4f}", f"{np.mean(window_v):.4f}",
                          f"{np.mean(window_h):.4f}", f"{time.time() - t0:.1f}"])
            sys.stdout.flush()
            window_r, window_regret, window_v, window_h = [], [], [], []
    drift = float(np.abs(np.array(model.encoder.proj.weight) - frozen_before).max())
    print(f"# encoder frozen on purpose, max change {drift:.1e}")


if __name__ == "__main__":
    main()
