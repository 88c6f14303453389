"""Explicit-rating matrix factorisation for a small catalogue, then a cold-start
"fold-in" of brand-new users.

Phase 1 ("warm"): user/item embeddings + biases + a global mean are trained on
the existing users' 1-5 star ratings (Adam, L2 on the rows touched).
Phase 2 ("fold-in"): 80 new users arrive with only 6 ratings each. The trained
catalogue model is frozen on purpose (items, item biases, global mean and the
old users stay fixed); only the new users' vectors and biases are fitted
(a fresh SGD with momentum). We check that the frozen part did not move.

Metric: RMSE in stars (lower is better).
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(5)
N_USERS, N_NEW, N_ITEMS, TRUE_RANK, DIM = 400, 80, 250, 4, 8

# ---------------- synthetic ratings from a low-rank taste model ----------------
U_true = rng.normal(size=(N_USERS + N_NEW, TRUE_RANK))
V_true = rng.normal(size=(N_ITEMS, TRUE_RANK))
item_pop = rng.normal(scale=0.5, size=N_ITEMS)
user_mood = rng.normal(scale=0.3, size=N_USERS + N_NEW)


def rate(u, i):
    raw = 3.4 + 0.45 * (U_true[u] * V_true[i]).sum(-1) + item_pop[i] + user_mood[u]
    return np.clip(raw + rng.normal(scale=0.35, size=np.shape(u)), 1.0, 5.0)


def sample_pairs(users, per_user):
    us, its = [], []
    for u in users:
        chosen = rng.choice(N_ITEMS, size=per_user, replace=False)
        us.append(np.full(per_user, u))
        its.append(chosen)
    us, its = np.concatenate(us), np.concatenate(its)
    return us, its, rate(us, its).astype(np.float32)


old_users = np.arange(N_USERS)
u_all, i_all, r_all = sample_pairs(old_users, 40)
split = rng.random(len(r_all)) < 0.85
train = (u_all[split], i_all[split], r_all[split])
val = (u_all[~split], i_all[~split], r_all[~split])

new_users = np.arange(N_USERS, N_USERS + N_NEW)
nu, ni, nr = sample_pairs(new_users, 26)
first = np.tile(np.r_[np.ones(6, bool), np.zeros(20, bool)], N_NEW)
new_train = (nu[first] - N_USERS, ni[first], nr[first])      # local ids 0..79
new_test = (nu[~first] - N_USERS, ni[~first], nr[~first])


class Catalogue(nn.Module):
    def __init__(self, n_users, n_items, dim, mean_rating):
        super().__init__()
        self.user = nn.Embedding(n_users, dim)
        self.item = nn.Embedding(n_items, dim)
        self.user_bias = nn.Embedding(n_users, 1)
        self.item_bias = nn.Embedding(n_items, 1)
        self.user.weight = 0.1 * self.user.weight
        self.item.weight = 0.1 * self.item.weight
        self.user_bias.weight = mx.zeros_like(self.user_bias.weight)
        self.item_bias.weight = mx.zeros_like(self.item_bias.weight)
        self.mu = mx.array([mean_rating], dtype=mx.float32)

    def score(self, pu, bu, items):
        qi = self.item(items)
        return (pu * qi).sum(-1) + bu + self.item_bias(items).squeeze(-1) + self.mu

    def __call__(self, users, items):
        return self.score(self.user(users), self.user_bias(users).squeeze(-1), items)


class FoldIn(nn.Module):
    """New users on top of a trained (frozen) catalogue."""

    def __init__(self, base, n_new, dim):
        super().__init__()
        self.base = base
        self.new_user = nn.Embedding(n_new, dim)
        self.new_user.weight = 0.01 * self.new_user.weight
        self.new_bias = nn.Embedding(n_new, 1)
        self.new_bias.weight = mx.zeros_like(self.new_bias.weight)

    def __call__(self, users, items):
        return self.base.score(self.new_user(users), self.new_bias(users).squeeze(-1), items)


def make_loss(l2, reg_tables):
    def loss_fn(model, u, i, r):
        pred = model(u, i)
        mse = mx.mean((pred - r) ** 2)
        reg = sum(mx.mean(mx.sum(fn(model, u, i) ** 2, axis=-1)) for fn in reg_tables)
        return mse + l2 * reg
    return loss_fn


def rmse(model, data):
    u, i, r = (mx.array(a) for a in data)
    return mx.sqrt(mx.mean((model(u, i) - r) ** 2)).item()


def run_epochs(model, opt, loss_fn, data, epochs, batch, tag, eval_sets):
    step = nn.value_and_grad(model, loss_fn)
    u, i, r = data
    n = len(r)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n)
        tot, seen = 0.0, 0
        for s in range(0, n, batch):
            idx = order[s:s + batch]
            loss, grads = step(model, mx.array(u[idx]), mx.array(i[idx]), mx.array(r[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * len(idx)
            seen += len(idx)
        if epoch in (1, epochs) or epoch % 3 == 0:
            evals = "  ".join(f"{name}_rmse {rmse(model, d):.3f}" for name, d in eval_sets)
            print(f"[{tag}] epoch {epoch:2d}  objective {tot / seen:.4f}  {evals}")


def first_step_grads(model, loss_fn, data, batch=256):
    u, i, r = (mx.array(a[:batch]) for a in data)
    _, g = nn.value_and_grad(model, loss_fn)(model, u, i, r)
    return {k: float(mx.abs(v).sum()) for k, v in tree_flatten(g)}


t0 = time.perf_counter()
# ---------------------------- phase 1: warm model -----------------------------
model = Catalogue(N_USERS, N_ITEMS, DIM, float(train[2].mean()))
warm_loss = make_loss(0.02, [lambda m, u, i: m.user(u), lambda m, u, i: m.item(i)])
print("phase 1 first-step |grad| per leaf:",
      {k: round(v, 4) for k, v in first_step_grads(model, warm_loss, train).items()})
print(f"[warm] before training  val_rmse {rmse(model, val):.3f}")
run_epochs(model, optim.Adam(learning_rate=0.01), warm_loss, train, 18, 128, "warm",
           [("train", train), ("val", val)])

# ---------------------------- phase 2: fold-in --------------------------------
model.freeze()
frozen_before = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
fold = FoldIn(model, N_NEW, DIM)
n_trainable = sum(v.size for _, v in tree_flatten(fold.trainable_parameters()))
n_total = sum(v.size for _, v in tree_flatten(fold.parameters()))
print(f"[fold-in] trainable {n_trainable} of {n_total} parameters (catalogue frozen)")
fold_loss = make_loss(0.05, [lambda m, u, i: m.new_user(u)])
print("phase 2 first-step |grad| per leaf:",
      {k: round(v, 4) for k, v in first_step_grads(fold, fold_loss, new_train).items()})
print(f"[fold-in] before fitting (item-bias baseline)  test_rmse {rmse(fold, new_test):.3f}")
run_epochs(fold, optim.SGD(learning_rate=0.05, momentum=0.9), fold_loss, new_train, 30, 32,
           "fold-in", [("seen", new_train), ("test", new_test)])

drift = max(float(np.abs(np.array(v) - frozen_before[k]).max())
            for k, v in tree_flatten(model.parameters()))
print(f"catalogue max drift during fold-in: {drift:.2e}")
print(f"total time {time.perf_counter() - t0:.1f}s")
