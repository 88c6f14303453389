"""Repair cafe: which volunteer's bench will a returning visitor bring an item to?

Implicit feedback (visitor x bench visits) from a made-up taste model with a
popularity skew.  Neural collaborative filtering (He et al. 2017):
  stage gmf  - generalised matrix factorisation, Adam, pointwise log-loss
  stage mlp  - MLP tower over concatenated embeddings, Adam
  stage fuse - NeuMF initialised from both pretrained towers (their own
               output layers frozen, the joint output layer is
               [0.5*w_gmf, 0.5*w_mlp]), plain SGD with a linear warm-up of the
               learning rate from exactly 0.
Four fresh negatives per positive are drawn every epoch.
Leave-one-out test: the held-out visit is ranked against 99 unvisited benches.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_USERS, N_ITEMS = 520, 260
VISITS_PER_USER = 18
N_NEG_TRAIN = 4
N_NEG_TEST = 99
BATCH = 256


def make_data(seed=5):
    rng = np.random.default_rng(seed)
    U = rng.normal(0, 1, (N_USERS, 6))
    V = rng.normal(0, 1, (N_ITEMS, 6))
    pop = rng.normal(0, 1.0, N_ITEMS)
    logits = 0.9 * U @ V.T + pop[None, :]
    g = rng.gumbel(size=logits.shape)
    chosen = np.argsort(-(logits + g), axis=1)[:, :VISITS_PER_USER]
    seen = np.zeros((N_USERS, N_ITEMS), dtype=bool)
    train, test = [], []
    for u in range(N_USERS):
        items = chosen[u]
        seen[u, items] = True
        test.append((u, int(items[0])))
        train.extend((u, int(i)) for i in items[1:])
    train = np.array(train, dtype=np.int32)
    test = np.array(test, dtype=np.int32)
    test_cands = np.zeros((N_USERS, 1 + N_NEG_TEST), dtype=np.int32)
    for u, pos in test:
        unseen = np.flatnonzero(~seen[u])
        test_cands[u, 0] = pos
        test_cands[u, 1:] = rng.choice(unseen, N_NEG_TEST, replace=False)
    return train, test_cands, seen


class GMF(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.user = nn.Embedding(N_USERS, dim)
        self.item = nn.Embedding(N_ITEMS, dim)
        self.user.weight = 0.01 * mx.random.normal(self.user.weight.shape)
        self.item.weight = 0.01 * mx.random.normal(self.item.weight.shape)
        self.head = nn.Linear(dim, 1)

    def features(self, u, i):
        return self.user(u) * self.item(i)

    def __call__(self, u, i):
        return self.head(self.features(u, i)).squeeze(-1)


class MLPTower(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.user = nn.Embedding(N_USERS, dim)
        self.item = nn.Embedding(N_ITEMS, dim)
        self.user.weight = 0.01 * mx.random.normal(self.user.weight.shape)
        self.item.weight = 0.01 * mx.random.normal(self.item.weight.shape)
        self.layers = [nn.Linear(2 * dim, 32), nn.Linear(32, 16), nn.Linear(16, 8)]
        self.head = nn.Linear(8, 1)

    def features(self, u, i):
        x = mx.concatenate([self.user(u), self.item(i)], axis=-1)
        for layer in self.layers:
            x = nn.relu(layer(x))
        return x

    def __call__(self, u, i):
        return self.head(self.features(u, i)).squeeze(-1)


class NeuMF(nn.Module):
    def __init__(self, gmf, mlp):
        super().__init__()
        self.gmf = gmf
        self.mlp = mlp
        self.head = nn.Linear(16 + 8, 1)
        self.head.weight = mx.concatenate(
            [0.5 * gmf.head.weight, 0.5 * mlp.head.weight], axis=1)
        self.head.bias = 0.5 * (gmf.head.bias + mlp.head.bias)
        # the towers' own output layers are not part of NeuMF's prediction
        self.gmf.head.freeze()
        self.mlp.head.freeze()

    def __call__(self, u, i):
        x = mx.concatenate([self.gmf.features(u, i), self.mlp.features(u, i)], axis=-1)
        return self.head(x).squeeze(-1)


def loss_fn(model, u, i, y):
    return nn.losses.binary_cross_entropy(model(u, i), y, with_logits=True)


def epoch_rows(train, seen, rng):
    n = len(train)
    users = np.repeat(train[:, 0], 1 + N_NEG_TRAIN)
    items = np.empty(n * (1 + N_NEG_TRAIN), dtype=np.int32)
    labels = np.zeros(n * (1 + N_NEG_TRAIN), dtype=np.float32)
    items[:: 1 + N_NEG_TRAIN] = train[:, 1]
    labels[:: 1 + N_NEG_TRAIN] = 1.0
    for k in range(1, 1 + N_NEG_TRAIN):
        cand = rng.integers(0, N_ITEMS, n)
        bad = seen[train[:, 0], cand]
        while bad.any():
            cand[bad] = rng.integers(0, N_ITEMS, bad.sum())
            bad = seen[train[:, 0], cand]
        items[k:: 1 + N_NEG_TRAIN] = cand
    perm = rng.permutation(len(users))
    return users[perm], items[perm], labels[perm]


def hit_ndcg(scores):
    # column 0 holds the held-out positive
    rank = (scores[:, 1:] > scores[:, :1]).sum(1)
    hit = rank < 10
    ndcg = np.where(hit, 1.0 / np.log2(rank + 2.0), 0.0)
    return float(hit.mean()), float(ndcg.mean())


def evaluate(model, cands):
    u = mx.array(np.repeat(np.arange(N_USERS), cands.shape[1]).astype(np.int32))
    i = mx.array(cands.reshape(-1))
    s = np.array(model(u, i)).reshape(cands.shape)
    return hit_ndcg(s)


def fit(model, opt, lr_fn, stage, epochs, train, seen, cands, rng, t0, log):
    step_fn = nn.value_and_grad(model, loss_fn)
    step = 0
    for ep in range(1, epochs + 1):
        users, items, labels = epoch_rows(train, seen, rng)
        tot, cnt = 0.0, 0
        for s in range(0, len(users), BATCH):
            u = mx.array(users[s:s + BATCH])
            i = mx.array(items[s:s + BATCH])
            y = mx.array(labels[s:s + BATCH])
            lr_used = lr_fn(step)
            loss, grads = step_fn(model, u, i, y)
            if step == 0:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if not bool(mx.any(g != 0).item())]
                log(f"@{stage} audit | trainable leaves {len(flat)} | "
                    f"all-zero grads {zero if zero else 'none'} | first lr {lr_used:.4f}")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * len(labels[s:s + BATCH])
            cnt += len(labels[s:s + BATCH])
            step += 1
        hr, nd = evaluate(model, cands)
        log(f"@{stage} epoch={ep} | logloss={tot / cnt:.4f} | HR@10={hr:.3f} "
            f"NDCG@10={nd:.3f} | lr_end={lr_used:.4f} | t={time.time() - t0:.1f}s")
    return hr, nd


def main():
    t0 = time.time()
    mx.random.seed(2)
    rng = np.random.default_rng(9)
    train, cands, seen = make_data()
    item_pop = np.bincount(train[:, 1], minlength=N_ITEMS).astype(np.float64)
    pop_hr, pop_nd = hit_ndcg(item_pop[cands] + 1e-6 * rng.random(cands.shape))
    rand_hr, rand_nd = hit_ndcg(rng.random(cands.shape))
    print(f"visitors={N_USERS} benches={N_ITEMS} train_visits={len(train)} "
          f"held_out={len(cands)} candidates_per_visitor={cands.shape[1]}")
    print(f"reference | random HR@10={rand_hr:.3f} NDCG@10={rand_nd:.3f} | "
          f"most-visited HR@10={pop_hr:.3f} NDCG@10={pop_nd:.3f}")

    gmf = GMF()
    opt = optim.Adam(learning_rate=3e-3)
    fit(gmf, opt, lambda s: 3e-3, "gmf", 6, train, seen, cands, rng, t0, print)

    mlp = MLPTower()
    opt = optim.Adam(learning_rate=2e-3)
    fit(mlp, opt, lambda s: 2e-3, "mlp", 6, train, seen, cands, rng, t0, print)

    neumf = NeuMF(gmf, mlp)
    mx.eval(neumf.parameters())
    hr0, nd0 = evaluate(neumf, cands)
    print(f"@fuse init | HR@10={hr0:.3f} NDCG@10={nd0:.3f} (before any fused update)")
    steps_per_epoch = -(-len(train) * (1 + N_NEG_TRAIN) // BATCH)
    lr_fn = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.05, steps_per_epoch),
         optim.cosine_decay(0.05, 7 * steps_per_epoch, 0.005)],
        [steps_per_epoch])
    opt = optim.SGD(learning_rate=lr_fn, momentum=0.9)
    # the fused stage reports only at the end
    buffered = []
    hr, nd = fit(neumf, opt, lambda s: float(lr_fn(mx.array(s))), "fuse", 8,
                 train, seen, cands, rng, t0, buffered.append)
    print(f"@fuse ran {len(buffered) - 1} epochs quietly; log follows")
    for line in buffered:
        print("   " + line)
    print(f"done | NeuMF HR@10={hr:.3f} NDCG@10={nd:.3f} | most-visited HR@10={pop_hr:.3f} "
          f"| {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
