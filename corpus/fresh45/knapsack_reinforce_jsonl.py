"""0/1 knapsack with a learned inclusion policy trained by REINFORCE.

Each instance: 12 items with random values/weights and a capacity of ~40% of the
total weight. A shared per-item MLP sees (value, weight, value/weight, capacity/total
weight, rank of value/weight) and emits an inclusion logit; selections are sampled
independently per item. Reward = packed value / DP optimum if the pack fits, else
-0.25 * overweight fraction. Baseline = exponential moving average of the reward.
Every report is one JSON object per line.
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_ITEMS, BATCH, STEPS = 12, 128, 350
rng = np.random.default_rng(11)


def dp_opt(v, w, cap):
    best = np.zeros(cap + 1)
    for vi, wi in zip(v, w):
        for c in range(cap, wi - 1, -1):
            best[c] = max(best[c], best[c - wi] + vi)
    return best[cap]


def instances(n):
    v = rng.integers(1, 30, size=(n, N_ITEMS))
    w = rng.integers(1, 20, size=(n, N_ITEMS))
    cap = (0.4 * w.sum(1)).astype(int)
    opt = np.array([dp_opt(v[i], w[i], cap[i]) for i in range(n)])
    ratio = v / w
    rank = ratio.argsort(1).argsort(1) / (N_ITEMS - 1)
    feats = np.stack([v / 30, w / 20, ratio / 10, np.repeat((cap / w.sum(1))[:, None], N_ITEMS, 1), rank], -1)
    return feats.astype(np.float32), v.astype(np.float32), w.astype(np.float32), cap.astype(np.float32), opt


class ItemPolicy(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(5, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))

    def __call__(self, feats):
        return self.net(feats).squeeze(-1)


def score(sel, v, w, cap, opt):
    load = (sel * w).sum(1)
    value = (sel * v).sum(1)
    fits = load <= cap
    return np.where(fits, value / opt, -0.25 * (load - cap) / cap), fits


def main():
    mx.random.seed(11)
    policy = ItemPolicy()
    opt = optim.Adam(learning_rate=2e-3)

    def loss_fn(model, feats, sel, adv):
        logits = model(feats)
        logp = -nn.losses.binary_cross_entropy(logits, sel, reduction="none").sum(-1)
        return -mx.mean(adv * logp)

    vg = nn.value_and_grad(policy, loss_fn)
    vf, vv, vw, vcap, vopt = instances(400)
    baseline = None
    t0 = time.time()
    hist = []
    for step in range(1, STEPS + 1):
        feats, v, w, cap, best = instances(BATCH)
        logits = policy(mx.array(feats))
        sel = np.array(mx.random.bernoulli(mx.sigmoid(logits))).astype(np.float32)
        reward, fits = score(sel, v, w, cap, best)
        baseline = reward.mean() if baseline is None else 0.95 * baseline + 0.05 * reward.mean()
        adv = mx.array((reward - baseline).astype(np.float32))
        loss, grads = vg(policy, mx.array(feats), mx.array(sel), adv)
        if step == 1:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if mx.abs(g).max().item() == 0]
            print(json.dumps({"event": "gradcheck", "leaves": len(flat), "zero_leaves": zero}))
            assert not zero
        opt.update(policy, grads)
        mx.eval(policy.parameters(), opt.state)
        hist.append(float(reward.mean()))
        if step % 35 == 0 or step == 1:
            greedy = (np.array(mx.sigmoid(policy(mx.array(vf)))) > 0.5).astype(np.float32)
            g_reward, g_fits = score(greedy, vv, vw, vcap, vopt)
            print(json.dumps({
                "event": "report", "step": step,
                "sampled_reward_avg35": round(float(np.mean(hist[-35:])), 4),
                "baseline": round(float(baseline), 4),
                "val_greedy_value_over_opt": round(float(np.where(g_fits, g_reward, 0).mean()), 4),
                "val_feasible_frac": round(float(g_fits.mean()), 3),
                "secs": round(time.time() - t0, 2),
            }))
    # Reference: classic value/weight greedy heuristic on the same validation set
    ref = []
    for i in range(len(vv)):
        order = np.argsort(-vv[i] / vw[i])
        load, val = 0.0, 0.0
        for j in order:
            if load + vw[i, j] <= vcap[i]:
                load += vw[i, j]
                val += vv[i, j]
        ref.append(val / vopt[i])
    print(json.dumps({"event": "done", "ratio_greedy_heuristic": round(float(np.mean(ref)), 4)}))


if __name__ == "__main__":
    main()
