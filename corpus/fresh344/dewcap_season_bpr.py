"""Astronomy club: which deep-sky target should a member observe next?

Implicit-feedback matrix factorisation with the BPR loss. The club's target
list grows each season (50 -> 85 -> 110 objects): the target tables are
widened in place, old rows kept, and the Adam moments of the old rows carried
over (new rows start with zero moments). Reports are written as SQL.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 11
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

N_MEMBER, DIM = 500, 16
SEASONS = [("autumn", 50), ("winter", 85), ("spring", 110)]
N_TARGET = SEASONS[-1][1]
KINDS = 4  # galaxy, open cluster, globular, nebula
kind = rng.integers(0, KINDS, N_TARGET)
taste_m = rng.normal(0, 1, (N_MEMBER, 6))
taste_t = rng.normal(0, 1, (N_TARGET, 6))
kind_love = rng.normal(0, 1.0, (N_MEMBER, KINDS))
fame = rng.normal(0, 0.7, N_TARGET)


def season_logs(n_avail, per_member=14):
    util = (0.6 * taste_m @ taste_t[:n_avail].T + kind_love[:, kind[:n_avail]]
            + fame[None, :n_avail])
    logs = []
    for u in range(N_MEMBER):
        g = util[u] + rng.gumbel(size=n_avail)
        logs.append(np.argsort(-g)[:per_member])
    return logs


class Recommender(nn.Module):
    def __init__(self, n_member, n_target, dim):
        super().__init__()
        self.member = nn.Embedding(n_member, dim)
        self.target = nn.Embedding(n_target, dim)
        self.member.weight = 0.1 * mx.random.normal((n_member, dim))
        self.target.weight = 0.1 * mx.random.normal((n_target, dim))
        self.tbias = mx.zeros((n_target,))

    def score(self, u, i):
        return (self.member(u) * self.target(i)).sum(-1) + self.tbias[i]

    def all_scores(self):
        return self.member.weight @ self.target.weight.T + self.tbias[None, :]


def bpr_loss(model, u, i, j):
    d = model.score(u, i) - model.score(u, j)
    reg = (model.member(u) ** 2).sum(-1) + (model.target(i) ** 2).sum(-1) + \
        (model.target(j) ** 2).sum(-1)
    return -nn.log_sigmoid(d).mean() + 1e-4 * reg.mean()


def widen(model, opt, n_new):
    """Append target rows; carry the Adam moments of the existing rows."""
    n_old = model.target.weight.shape[0]
    add = n_new - n_old
    model.target.weight = mx.concatenate(
        [model.target.weight, 0.1 * mx.random.normal((add, DIM))])
    model.tbias = mx.concatenate([model.tbias, mx.zeros((add,))])
    st = opt.state
    if "target" in st:
        for key in ("m", "v"):
            st["target"]["weight"][key] = mx.concatenate(
                [st["target"]["weight"][key], mx.zeros((add, DIM))])
            st["tbias"][key] = mx.concatenate([st["tbias"][key], mx.zeros((add,))])
    mx.eval(model.parameters(), opt.state)
    return n_old


def evaluate(model, train_seen, held, n_avail):
    s = np.array(model.all_scores())[:, :n_avail]
    s[train_seen] = -np.inf
    tgt = s[np.arange(N_MEMBER), held]
    rank = (s > tgt[:, None]).sum(1)
    return float((rank < 10).mean()), float(np.mean(1 / np.log2(rank + 2) * (rank < 10)))


print("CREATE TABLE club_epoch (season TEXT, epoch INT, step INT, targets INT, "
      "params INT, bpr REAL, hr10_pct REAL, ndcg10 REAL, pop_hr10_pct REAL, secs REAL);")

model = Recommender(N_MEMBER, SEASONS[0][1], DIM)
opt = optim.Adam(learning_rate=5e-3)
grad_fn = nn.value_and_grad(model, bpr_loss)
history = [[] for _ in range(N_MEMBER)]
step, t0 = 0, time.time()
for season, n_avail in SEASONS:
    n_before = model.target.weight.shape[0]
    if n_avail > n_before:
        widen(model, opt, n_avail)
    new_logs = season_logs(n_avail)
    for u in range(N_MEMBER):
        history[u].extend(int(t) for t in new_logs[u] if int(t) not in history[u])
    held = np.array([h[-1] for h in history])
    seen = np.zeros((N_MEMBER, n_avail), bool)
    pairs = []
    for u, h in enumerate(history):
        for t in h[:-1]:
            seen[u, t] = True
            pairs.append((u, t))
    pairs = np.array(pairs)
    counts = seen.sum(0).astype(float)
    pop_scores = np.where(seen, -np.inf, counts[None, :])
    pop_rank = (pop_scores > pop_scores[np.arange(N_MEMBER), held][:, None]).sum(1)
    pop_hr = float((pop_rank < 10).mean())
    n_params = sum(a.size for _, a in tree_flatten(model.parameters()))
    carried = (opt.state["target"]["weight"]["m"].shape[0] if "target" in opt.state else 0)
    print(f"-- season {season}: {n_avail} targets (was {n_before}), {len(pairs)} logged "
          f"observations, {n_params} parameters, Adam rows carried {min(carried, n_before)}")
    hr0, nd0 = evaluate(model, seen, held, n_avail)
    print(f"INSERT INTO club_epoch VALUES ('{season}', 0, {step}, {n_avail}, {n_params}, "
          f"NULL, {100 * hr0:.1f}, {nd0:.4f}, {100 * pop_hr:.1f}, {time.time() - t0:.1f});")
    for epoch in range(1, 9):
        perm = rng.permutation(len(pairs))
        tot, nb = 0.0, 0
        for b in range(0, len(perm), 256):
            p = pairs[perm[b:b + 256]]
            u, i = p[:, 0], p[:, 1]
            j = rng.integers(0, n_avail, len(u))
            clash = seen[u, j]
            while clash.any():
                j[clash] = rng.integers(0, n_avail, int(clash.sum()))
                clash = seen[u, j]
            loss, g = grad_fn(model, mx.array(u), mx.array(i), mx.array(j))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
            step += 1
        hr, nd = evaluate(model, seen, held, n_avail)
        print(f"INSERT INTO club_epoch VALUES ('{season}', {epoch}, {step}, {n_avail}, "
              f"{n_params}, {tot / nb:.4f}, {100 * hr:.1f}, {nd:.4f}, {100 * pop_hr:.1f}, "
              f"{time.time() - t0:.1f});")
print(f"-- done after {step} optimizer steps; Adam step counter {int(opt.state['step'])}")
