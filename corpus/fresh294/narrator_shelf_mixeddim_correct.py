"""Audiobook listener ratings with mixed-dimension item embeddings.

Items are sorted by popularity and split into three tiers.  Popular titles get
wide vectors, rare titles narrow ones, and each tier is projected into the
shared 16-d space (Ginart et al., mixed-dimension embeddings).  Ratings are
synthetic: true taste + biases + Gaussian noise (sd 0.45), so the best
reachable validation RMSE is about 0.45.
Adam with a linear warm-up from lr 0, cosine after it.  The run is split
into two sessions: session 1 saves weights and optimizer state, session 2
rebuilds everything from scratch and resumes from that checkpoint.
"""
import json
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

N_USERS, N_ITEMS, D = 500, 600, 16
TIERS = [(0, 40, 16), (40, 160, 8), (160, 600, 3)]  # (start, end, dim)
NOISE = 0.45


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    k = 4
    U = rng.normal(0, 0.6, (N_USERS, k))
    V = rng.normal(0, 0.6, (N_ITEMS, k))
    bu = rng.normal(0, 0.3, N_USERS)
    bi = rng.normal(0, 0.4, N_ITEMS)
    pop = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.9  # item 0 most popular
    pop /= pop.sum()
    n = 40000
    users = rng.integers(0, N_USERS, n)
    items = rng.choice(N_ITEMS, size=n, p=pop)
    r = 3.5 + bu[users] + bi[items] + (U[users] * V[items]).sum(1) + rng.normal(0, NOISE, n)
    perm = rng.permutation(n)
    users, items, r = users[perm], items[perm], r[perm].astype(np.float32)
    cut = int(0.85 * n)
    return (users[:cut], items[:cut], r[:cut]), (users[cut:], items[cut:], r[cut:])


class MixedDimItems(nn.Module):
    def __init__(self):
        super().__init__()
        self.tables = [nn.Embedding(e - s, d) for s, e, d in TIERS]
        self.projs = [nn.Linear(d, D, bias=False) for _, _, d in TIERS]
        for t in self.tables:
            t.weight = t.weight * 0.1

    def __call__(self, ids):
        out = mx.zeros((ids.shape[0], D))
        for (s, e, _), table, proj in zip(TIERS, self.tables, self.projs):
            inside = (ids >= s) & (ids < e)
            local = mx.clip(ids - s, 0, e - s - 1)
            out = out + mx.where(inside[:, None], proj(table(local)), 0.0)
        return out


class Recommender(nn.Module):
    def __init__(self, mu):
        super().__init__()
        self.users = nn.Embedding(N_USERS, D)
        self.users.weight = self.users.weight * 0.1
        self.item_vecs = MixedDimItems()
        self.user_bias = nn.Embedding(N_USERS, 1)
        self.item_bias = nn.Embedding(N_ITEMS, 1)
        self.user_bias.weight = mx.zeros((N_USERS, 1))
        self.item_bias.weight = mx.zeros((N_ITEMS, 1))
        self.mu = mu  # plain float, not a parameter

    def __call__(self, u, i):
        pu, qi = self.users(u), self.item_vecs(i)
        dot = (pu * qi).sum(-1)
        return self.mu + self.user_bias(u)[:, 0] + self.item_bias(i)[:, 0] + dot, pu, qi


def loss_fn(model, u, i, r, l2=4e-3):
    pred, pu, qi = model(u, i)
    mse = ((pred - r) ** 2).mean()
    return mse + l2 * ((pu ** 2).sum(-1) + (qi ** 2).sum(-1)).mean()


def rmse_by_tier(model, u, i, r):
    pred, _, _ = model(mx.array(u), mx.array(i))
    err = (np.array(pred) - r) ** 2
    out = {"all": float(np.sqrt(err.mean()))}
    for name, (s, e, _) in zip(["head", "torso", "tail"], TIERS):
        sel = (i >= s) & (i < e)
        out[name] = float(np.sqrt(err[sel].mean()))
    return out


def make_optimizer(total_steps, warm=40):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-2, warm), optim.cosine_decay(2e-2, total_steps - warm, 1e-3)],
        [warm],
    )
    return optim.Adam(learning_rate=sched)


def run_epochs(model, opt, train, val, first, last, bs, log):
    u, i, r = train
    step_fn = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(100 + first)
    for ep in range(first, last + 1):
        perm = rng.permutation(len(r))
        tot, nb = 0.0, 0
        for b in range(0, len(r) - bs + 1, bs):
            idx = perm[b : b + bs]
            loss, grads = step_fn(model, mx.array(u[idx]), mx.array(i[idx]), mx.array(r[idx]))
            if log["first_step"]:
                lr0 = opt.learning_rate.item()
                zero = sum(int(mx.all(g == 0).item()) for _, g in tree_flatten(grads))
                print(f"# step 1: lr={lr0:.4f} (warm-up starts at 0), all-zero grad leaves={zero}/{len(tree_flatten(grads))}")
                log["first_step"] = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        m = rmse_by_tier(model, *val)
        print(f"{ep:>5d} {tot / nb:>9.4f} {m['all']:>8.4f} {m['head']:>7.4f} {m['torso']:>7.4f} "
              f"{m['tail']:>7.4f} {opt.learning_rate.item():>8.5f} {time.time() - log['t0']:>6.1f}s")
    return m


def main():
    train, val = make_data()
    mu = float(train[2].mean())
    vu, vi, vr = val
    base_global = float(np.sqrt(((vr - mu) ** 2).mean()))
    item_mean = np.full(N_ITEMS, mu)
    for it in range(N_ITEMS):
        sel = train[1] == it
        if sel.sum() >= 3:
            item_mean[it] = train[2][sel].mean()
    base_item = float(np.sqrt(((vr - item_mean[vi]) ** 2).mean()))
    counts = np.bincount(train[1], minlength=N_ITEMS)
    print(f"ratings train={len(train[2])} val={len(vr)}; ratings per tier "
          f"head={counts[:40].sum()} torso={counts[40:160].sum()} tail={counts[160:].sum()}")
    print(f"reference val rmse: global mean {base_global:.4f}, item mean {base_item:.4f}, noise sd {NOISE:.2f}")

    bs, epochs, split = 256, 12, 5
    steps_per_epoch = len(train[2]) // bs
    total = steps_per_epoch * epochs

    mx.random.seed(1)
    model = Recommender(mu)
    opt = make_optimizer(total)
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    full_params = N_ITEMS * D
    item_params = sum(v.size for _, v in tree_flatten(model.item_vecs.trainable_parameters()))
    print(f"trainable params {n_params}; item side {item_params} (a flat 16-d item table would be {full_params})")
    print(f"{'epoch':>5} {'train_obj':>9} {'val':>8} {'head':>7} {'torso':>7} {'tail':>7} {'lr':>8} {'time':>7}")
    log = {"first_step": True, "t0": time.time()}
    m1 = run_epochs(model, opt, train, val, 1, split, bs, log)

    with tempfile.TemporaryDirectory() as d:
        model.save_weights(os.path.join(d, "weights.safetensors"))
        mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump({"epoch": split, "val": m1["all"]}, f)
        del model, opt
        print(f"# session 1 saved at epoch {split}; session 2 starts from a fresh process state")

        mx.random.seed(99)
        model = Recommender(mu)
        opt = make_optimizer(total)
        model.load_weights(os.path.join(d, "weights.safetensors"))
        opt.init(model.trainable_parameters())
        opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
        mx.eval(model.parameters(), opt.state)
        with open(os.path.join(d, "meta.json")) as f:
            meta = json.load(f)
    check = rmse_by_tier(model, *val)["all"]
    print(f"# resumed: val {check:.4f} vs saved {meta['val']:.4f}, optimizer step {int(opt.state['step'].item())}")
    m2 = run_epochs(model, opt, train, val, meta["epoch"] + 1, epochs, bs, log)
    print(f"final val rmse {m2['all']:.4f} (noise sd {NOISE:.2f}, item-mean reference {base_item:.4f})")


if __name__ == "__main__":
    main()
