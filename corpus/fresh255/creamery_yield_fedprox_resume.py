"""Five dairy farms jointly fit a daily milk-yield model without pooling records.

FedProx clients (proximal pull towards the round's global weights), FedAvgM server
(server momentum, server learning rate warmed up from exactly 0), 3 of 5 farms
sampled per round, a checkpoint after round 8 and a resume into a fresh process-like
state, then baselines: mean predictor, farm-local models and pooled training.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)

FEATS = ["days_in_milk", "parity", "feed_kg", "thi", "milkings", "bcs"]


def make_farm(n, dim_shift, feed_mu, thi_mu, parity_p):
    dim = np.clip(rng.gamma(2.2, 60.0, n) + dim_shift, 5, 330)
    parity = rng.choice([1, 2, 3, 4], size=n, p=parity_p).astype(np.float64)
    feed = rng.normal(feed_mu, 2.0, n)
    thi = rng.normal(thi_mu, 5.0, n)
    milkings = rng.choice([2.0, 3.0], size=n, p=[0.6, 0.4])
    bcs = np.clip(rng.normal(3.0, 0.35, n), 2.0, 4.2)
    # Wood lactation curve times management/heat effects (made-up law)
    wood = 9.0 * dim ** 0.22 * np.exp(-0.0042 * dim)
    y = (wood * (1.0 + 0.07 * np.minimum(parity, 3.0))
         + 0.55 * (feed - 20.0)
         - 0.30 * np.maximum(thi - 68.0, 0.0)
         + 2.2 * (milkings - 2.0)
         - 1.8 * (bcs - 3.0) ** 2)
    y = y + rng.normal(0.0, 1.5, n)
    X = np.stack([dim, parity, feed, thi, milkings, bcs], axis=1)
    return X, y


farm_specs = [
    (900, 0.0, 21.0, 64.0, [0.35, 0.30, 0.20, 0.15]),
    (600, 60.0, 18.0, 72.0, [0.20, 0.30, 0.30, 0.20]),
    (1100, -20.0, 23.0, 60.0, [0.45, 0.30, 0.15, 0.10]),
    (450, 90.0, 19.0, 75.0, [0.25, 0.25, 0.25, 0.25]),
    (750, 30.0, 22.0, 69.0, [0.30, 0.35, 0.20, 0.15]),
]
farms = [make_farm(*s) for s in farm_specs]
test_X, test_y = make_farm(2000, 30.0, 20.6, 68.0, [0.3, 0.3, 0.2, 0.2])

# Agreed-upon feature scaling shared by all farms (published by the co-op)
X_MU = np.array([130.0, 2.2, 20.6, 68.0, 2.4, 3.0])
X_SD = np.array([85.0, 1.0, 2.6, 7.0, 0.5, 0.35])
Y_MU, Y_SD = 28.0, 6.0


def prep(X, y):
    return (mx.array(((X - X_MU) / X_SD).astype(np.float32)),
            mx.array(((y - Y_MU) / Y_SD).astype(np.float32)))


farm_data = [prep(X, y) for X, y in farms]
Xte, yte = prep(test_X, test_y)
sizes = [int(d[1].shape[0]) for d in farm_data]


class YieldNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def rmse_kg(model, X, y):
    pred = model(X)
    return float(mx.sqrt(mx.mean((pred - y) ** 2)).item()) * Y_SD


def batches(X, y, bs, seed):
    perm = np.random.default_rng(seed).permutation(y.shape[0])
    for s in range(0, len(perm), bs):
        idx = mx.array(perm[s:s + bs])
        yield X[idx], y[idx]


MU_PROX = 0.02
LOCAL_EPOCHS = 2
LOCAL_LR = 0.05
BS = 32


def local_train(global_flat, data, seed):
    client = YieldNet()
    client.update(tree_unflatten(global_flat))
    anchor = [v for _, v in global_flat]

    def loss_fn(m, xb, yb):
        mse = mx.mean((m(xb) - yb) ** 2)
        prox = sum(mx.sum((p - a) ** 2) for (_, p), a in
                   zip(tree_flatten(m.trainable_parameters()), anchor))
        return mse + 0.5 * MU_PROX * prox, mse

    vg = nn.value_and_grad(client, lambda m, xb, yb: loss_fn(m, xb, yb)[0])
    opt = optim.SGD(learning_rate=LOCAL_LR)
    X, y = data
    tot, nb = 0.0, 0
    for ep in range(LOCAL_EPOCHS):
        for xb, yb in batches(X, y, BS, seed * 100 + ep):
            loss, g = vg(client, xb, yb)
            opt.update(client, g)
            mx.eval(client.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
    return tree_flatten(client.parameters()), tot / nb


def server_lr(rnd, warm=3):
    # linear warmup starting at exactly 0 in round 0
    return min(1.0, rnd / warm)


SERVER_BETA = 0.5
CLIENTS_PER_ROUND = 3


def run_rounds(global_model, momentum, start, stop, sampler):
    for rnd in range(start, stop):
        chosen = sorted(sampler.choice(len(farm_data), CLIENTS_PER_ROUND, replace=False).tolist())
        g_flat = tree_flatten(global_model.parameters())
        n_tot = sum(sizes[c] for c in chosen)
        delta = [mx.zeros_like(v) for _, v in g_flat]
        client_losses = []
        for c in chosen:
            c_flat, c_loss = local_train(g_flat, farm_data[c], seed=rnd * 10 + c)
            w = sizes[c] / n_tot
            delta = [d + w * (cv - gv) for d, (_, cv), (_, gv) in zip(delta, c_flat, g_flat)]
            client_losses.append(c_loss)
        momentum = [SERVER_BETA * m + d for m, d in zip(momentum, delta)]
        slr = server_lr(rnd)
        new_flat = [(k, gv + slr * m) for (k, gv), m in zip(g_flat, momentum)]
        global_model.update(tree_unflatten(new_flat))
        mx.eval(global_model.parameters(), momentum)
        step_norm = float(mx.sqrt(sum(mx.sum((slr * m) ** 2) for m in momentum)).item())
        print(f"round {rnd:2d} | farms {chosen} | server_lr {slr:.2f} | "
              f"client loss(+prox) {np.mean(client_losses):.4f} | step norm {step_norm:.4f} | "
              f"test RMSE {rmse_kg(global_model, Xte, yte):.3f} kg")
    return momentum


t0 = time.time()
print("farm sizes:", sizes, "| test cows:", int(yte.shape[0]))
global_model = YieldNet()
mx.eval(global_model.parameters())
momentum = [mx.zeros_like(v) for _, v in tree_flatten(global_model.parameters())]
sampler = np.random.default_rng(11)
print(f"init test RMSE {rmse_kg(global_model, Xte, yte):.3f} kg")

momentum = run_rounds(global_model, momentum, 0, 9, sampler)

# checkpoint after round 8
ckpt_dir = tempfile.mkdtemp()
ckpt = os.path.join(ckpt_dir, "round08.npz")
state = dict(tree_flatten(global_model.parameters()))
for i, m in enumerate(momentum):
    state[f"momentum.{i}"] = m
mx.savez(ckpt, **state)
rmse_before = rmse_kg(global_model, Xte, yte)
sampler_state = sampler.bit_generator.state
print(f"checkpoint written: {os.path.basename(ckpt)} | test RMSE {rmse_before:.3f} kg")

# resume into fresh objects
del global_model, momentum
loaded = mx.load(ckpt)
resumed = YieldNet()
resumed.update(tree_unflatten([(k, v) for k, v in loaded.items() if not k.startswith("momentum.")]))
momentum = [loaded[f"momentum.{i}"] for i in range(sum(1 for k in loaded if k.startswith("momentum.")))]
sampler = np.random.default_rng()
sampler.bit_generator.state = sampler_state
rmse_after = rmse_kg(resumed, Xte, yte)
print(f"resumed from round 8 | test RMSE {rmse_after:.3f} kg (match={abs(rmse_after - rmse_before) < 1e-6})")

momentum = run_rounds(resumed, momentum, 9, 18, sampler)
fed_rmse = rmse_kg(resumed, Xte, yte)

# ---- baselines ----
mean_rmse = float(np.sqrt(np.mean((test_y - np.concatenate([f[1] for f in farms]).mean()) ** 2)))


def plain_train(X, y, epochs, seed):
    m = YieldNet()
    opt = optim.SGD(learning_rate=LOCAL_LR)
    vg = nn.value_and_grad(m, lambda mm, xb, yb: mx.mean((mm(xb) - yb) ** 2))
    for ep in range(epochs):
        for xb, yb in batches(X, y, BS, seed + ep):
            _, g = vg(m, xb, yb)
            opt.update(m, g)
            mx.eval(m.parameters(), opt.state)
    return m


local_rmses = []
for c, (X, y) in enumerate(farm_data):
    local_rmses.append(rmse_kg(plain_train(X, y, 12, 500 + c), Xte, yte))
Xall = mx.concatenate([d[0] for d in farm_data])
yall = mx.concatenate([d[1] for d in farm_data])
pooled_rmse = rmse_kg(plain_train(Xall, yall, 12, 900), Xte, yte)

print("---- summary (test RMSE, kg/day; noise floor 1.50) ----")
print(f"mean predictor        {mean_rmse:.3f}")
for c, r in enumerate(local_rmses):
    print(f"farm {c} alone          {r:.3f}")
print(f"pooled (not allowed)  {pooled_rmse:.3f}")
print(f"federated FedProx+M   {fed_rmse:.3f}")
print(f"done in {time.time() - t0:.1f}s")
