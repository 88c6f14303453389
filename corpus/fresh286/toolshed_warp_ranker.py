"""Tool-library borrowing: rank tools for members with a WARP-loss factor model.

Synthetic borrow logs (members x tools), leave-one-out evaluation of the last
borrow of every member.  Negatives are drawn until one violates the margin;
the number of draws gives a rank estimate that weights the hinge.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(286)
mx.random.seed(286)

N_MEMBERS, N_TOOLS, N_CATS = 500, 160, 8
TRUE_DIM = 6
BORROWS = 22

# ---------------- synthetic borrow logs ----------------
tool_cat = rng.integers(0, N_CATS, N_TOOLS)
tool_vec = rng.normal(size=(N_TOOLS, TRUE_DIM))
tool_pop = rng.normal(scale=0.9, size=N_TOOLS)
member_vec = rng.normal(size=(N_MEMBERS, TRUE_DIM))
member_cat = rng.normal(scale=1.2, size=(N_MEMBERS, N_CATS))

train_pairs, test_item = [], np.zeros(N_MEMBERS, dtype=np.int64)
seen = [set() for _ in range(N_MEMBERS)]
for u in range(N_MEMBERS):
    util = member_vec[u] @ tool_vec.T / math.sqrt(TRUE_DIM) + member_cat[u, tool_cat] + tool_pop
    p = np.exp(1.6 * util)
    p /= p.sum()
    items = rng.choice(N_TOOLS, size=BORROWS, replace=False, p=p)
    test_item[u] = items[-1]
    for i in items[:-1]:
        train_pairs.append((u, i))
        seen[u].add(int(i))
train_pairs = np.array(train_pairs, dtype=np.int64)
seen_mask = np.zeros((N_MEMBERS, N_TOOLS), dtype=bool)
for u in range(N_MEMBERS):
    seen_mask[u, list(seen[u])] = True

pop_counts = np.bincount(train_pairs[:, 1], minlength=N_TOOLS).astype(np.float64)


def hit_ndcg(scores):
    scores = np.where(seen_mask, -np.inf, scores)
    target = scores[np.arange(N_MEMBERS), test_item]
    rank = (scores > target[:, None]).sum(1)
    hit = (rank < 10).mean()
    ndcg = np.where(rank < 10, 1.0 / np.log2(rank + 2.0), 0.0).mean()
    return 100 * hit, ndcg


pop_hit, pop_ndcg = hit_ndcg(np.tile(pop_counts, (N_MEMBERS, 1)))


# ---------------- model ----------------
class FactorRanker(nn.Module):
    def __init__(self, n_users, n_items, dim):
        super().__init__()
        self.user = nn.Embedding(n_users, dim)
        self.item = nn.Embedding(n_items, dim)
        self.item_bias = nn.Embedding(n_items, 1)
        self.user.weight = 0.1 * mx.random.normal((n_users, dim))
        self.item.weight = 0.1 * mx.random.normal((n_items, dim))
        self.item_bias.weight = mx.zeros((n_items, 1))

    def score(self, u, items):
        # u: (B,), items: (B, K) -> (B, K)
        pu = self.user(u)[:, None, :]
        qi = self.item(items)
        return (pu * qi).sum(-1) + self.item_bias(items)[..., 0]

    def all_scores(self):
        return self.user.weight @ self.item.weight.T + self.item_bias.weight[:, 0][None, :]


K_DRAWS, MARGIN, L2 = 48, 1.0, 1e-4
harmonic = mx.array(np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, N_TOOLS + 1))]).astype(np.float32))


def warp_loss(model, u, pos, negs, neg_valid):
    s_pos = model.score(u, pos[:, None])[:, 0]
    s_neg = model.score(u, negs)
    violating = mx.logical_and(s_neg > (s_pos[:, None] - MARGIN), neg_valid)
    violating = mx.stop_gradient(violating)
    found = violating.any(axis=1)
    first = mx.argmax(violating.astype(mx.int32), axis=1)
    draws = first + 1
    rank_est = mx.floor((N_TOOLS - 1) / draws.astype(mx.float32)).astype(mx.int32)
    weight = mx.stop_gradient(mx.where(found, harmonic[rank_est], 0.0))
    s_first = mx.take_along_axis(s_neg, first[:, None], axis=1)[:, 0]
    hinge = mx.maximum(0.0, MARGIN - s_pos + s_first)
    loss = (weight * hinge).mean()
    reg = L2 * (mx.square(model.user(u)).sum() + mx.square(model.item(pos)).sum()) / u.shape[0]
    aux = (found.astype(mx.float32).mean(), mx.where(found, draws, K_DRAWS).astype(mx.float32).mean())
    return loss + reg, (loss, aux)


model = FactorRanker(N_MEMBERS, N_TOOLS, 24)
mx.eval(model.parameters())

WARMUP, BASE_LR = 120, 0.08
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, BASE_LR, WARMUP), lambda s: mx.array(BASE_LR)], [WARMUP]
)
opt = optim.Adagrad(learning_rate=lr_sched)


def loss_only(model, u, pos, negs, valid):
    total, _ = warp_loss(model, u, pos, negs, valid)
    return total


grad_fn = nn.value_and_grad(model, loss_only)


def sample_batch(idx):
    u = train_pairs[idx, 0]
    pos = train_pairs[idx, 1]
    negs = rng.integers(0, N_TOOLS, size=(len(idx), K_DRAWS))
    valid = ~seen_mask[u[:, None], negs]
    return mx.array(u), mx.array(pos), mx.array(negs), mx.array(valid)


B = 256
EPOCHS = 16
hit0, ndcg0 = hit_ndcg(np.array(model.all_scores()))
print(f"toolshed: {N_MEMBERS} members x {N_TOOLS} tools, {len(train_pairs)} training borrows, "
      f"1 held-out borrow per member, {K_DRAWS} draws per positive, margin {MARGIN}")
print(f"toolshed: popularity baseline  HR@10 {pop_hit:5.1f} %  NDCG@10 {pop_ndcg:.4f}")
print(f"toolshed: untrained factors    HR@10 {hit0:5.1f} %  NDCG@10 {ndcg0:.4f}")

step = 0
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    perm = rng.permutation(len(train_pairs))
    sum_loss, sum_found, sum_draws, nb = 0.0, 0.0, 0.0, 0
    for start in range(0, len(perm), B):
        idx = perm[start:start + B]
        u, pos, negs, valid = sample_batch(idx)
        if step == 0:
            before = [np.array(v) for _, v in tree_flatten(model.trainable_parameters())]
        (total, grads) = grad_fn(model, u, pos, negs, valid)
        _, (loss, (found, draws)) = warp_loss(model, u, pos, negs, valid)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, found, draws)
        if step == 0:
            after = [np.array(v) for _, v in tree_flatten(model.trainable_parameters())]
            moved = max(float(np.abs(a - b).max()) for a, b in zip(after, before))
            gnorm = {k: float(mx.abs(g).max()) for k, g in tree_flatten(grads)}
            print(f"toolshed: step 1 lr {float(lr_sched(mx.array(0))):.3f} max|grad| "
                  + " ".join(f"{k}={v:.2e}" for k, v in gnorm.items())
                  + f" max|param change| {moved:.1e}")
        step += 1
        sum_loss += float(loss)
        sum_found += float(found)
        sum_draws += float(draws)
        nb += 1
    hit, ndcg = hit_ndcg(np.array(model.all_scores()))
    print(f"epoch {epoch:2d}  step {step:4d}  lr {float(lr_sched(mx.array(step))):.3f}  "
          f"warp {sum_loss / nb:.4f}  violator_found {100 * sum_found / nb:5.1f} %  "
          f"draws/pos {sum_draws / nb:5.1f}  HR@10 {hit:5.1f} %  NDCG@10 {ndcg:.4f}  "
          f"(pop HR@10 {pop_hit:.1f} %)  {time.time() - t0:4.1f}s")

print(f"toolshed: done after {step} steps; final HR@10 {hit:.1f} % vs popularity {pop_hit:.1f} %")
