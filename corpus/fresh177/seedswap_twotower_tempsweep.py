# Seed-library swap recommender: which heirloom seed packets will a gardener request next?
# Two-tower retrieval with in-batch sampled softmax, hand-written Adagrad, temperature sweep.
import random
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(7)
N_G, N_S, D_TRUE = 400, 150, 5
ZONES = 6

zone = rng.integers(0, ZONES, N_G)
zone_taste = rng.normal(0, 1.0, (ZONES, D_TRUE))
g_taste = zone_taste[zone] + rng.normal(0, 0.6, (N_G, D_TRUE))
s_vec = rng.normal(0, 1.0, (N_S, D_TRUE))
s_pop = rng.normal(0, 0.8, N_S)

train_pairs, held = [], {}
for g in range(N_G):
    logits = g_taste[g] @ s_vec.T * 0.9 + s_pop
    p = np.exp(logits - logits.max()); p /= p.sum()
    picks = rng.choice(N_S, size=14, replace=False, p=p)
    held[g] = set(picks[:2].tolist())
    for s in picks[2:]:
        train_pairs.append((g, int(s)))
train_pairs = np.array(train_pairs)
seen = {g: set() for g in range(N_G)}
for g, s in train_pairs:
    seen[g].add(int(s))
pop_counts = np.bincount(train_pairs[:, 1], minlength=N_S)
LOGQ = mx.array(np.log((pop_counts + 1) / (pop_counts + 1).sum()).astype(np.float32))


class GardenerTower(nn.Module):
    def __init__(self, d=24):
        super().__init__()
        self.emb = nn.Embedding(N_G, d)
        self.zone = nn.Embedding(ZONES, d)
        self.mlp = nn.Sequential(nn.Linear(d, 32), nn.GELU(), nn.Linear(32, d))

    def __call__(self, g, z):
        return self.mlp(self.emb(g) + self.zone(z))


class SeedTower(nn.Module):
    def __init__(self, d=24):
        super().__init__()
        self.emb = nn.Embedding(N_S, d)

    def __call__(self, s):
        return self.emb(s)


class TwoTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.g = GardenerTower()
        self.s = SeedTower()


def nce(model, g, z, s, tau):
    u = model.g(g, z)
    v = model.s(s)
    u = u / mx.sqrt((u * u).sum(-1, keepdims=True) + 1e-6)
    v = v / mx.sqrt((v * v).sum(-1, keepdims=True) + 1e-6)
    logits = (u @ v.T) / tau - LOGQ[s][None, :]  # logQ correction for in-batch sampling
    # duplicates of the same seed inside a batch would be false negatives: mask them
    same = (s[:, None] == s[None, :]) & (~mx.eye(s.shape[0], dtype=mx.bool_))
    logits = mx.where(same, -1e9, logits)
    return nn.losses.cross_entropy(logits, mx.arange(s.shape[0]), reduction="mean")


def recall_at(model, k=10):
    u = model.g(mx.arange(N_G), mx.array(zone))
    v = model.s(mx.arange(N_S))
    sc = np.array(u @ v.T)
    hit = 0
    pop_hit = 0
    pop_order = np.argsort(-pop_counts)
    for g in range(N_G):
        row = sc[g].copy()
        row[list(seen[g])] = -np.inf
        top = set(np.argsort(-row)[:k].tolist())
        hit += len(top & held[g])
        pop_top = [s for s in pop_order if s not in seen[g]][:k]
        pop_hit += len(set(pop_top) & held[g])
    tot = sum(len(h) for h in held.values())
    return hit / tot, pop_hit / tot


def run(tau, base_lr=0.15, epochs=12, bs=256, warm=30):
    mx.random.seed(11)
    model = TwoTower()
    accum = tree_map(lambda p: mx.full(p.shape, 1e-8), model.parameters())
    lossgrad = nn.value_and_grad(model, nce)
    step = 0
    idx = np.arange(len(train_pairs))
    print(f"--- sweep tau={tau} ---")
    print(f"{'ep':>3} {'step':>5} {'lr':>8} {'nce':>8} {'R@10':>7} {'pop':>7}")
    for ep in range(epochs):
        np.random.default_rng(ep).shuffle(idx)
        tot, nb = 0.0, 0
        for i in range(0, len(idx) - bs + 1, bs):
            b = train_pairs[idx[i:i + bs]]
            g = mx.array(b[:, 0]); s = mx.array(b[:, 1]); z = mx.array(zone[b[:, 0]])
            lr = base_lr * min(1.0, step / warm)  # starts at exactly 0
            loss, grads = lossgrad(model, g, z, s, tau)
            accum = tree_map(lambda a, gr: a + gr * gr, accum, grads)
            new = tree_map(lambda p, gr, a: p - lr * gr / mx.sqrt(a), model.parameters(), grads, accum)
            model.update(new)
            mx.eval(model.parameters(), accum, loss)
            if step == 1:
                zero = [k for k, v in tree_flatten(grads) if float(mx.abs(v).sum()) == 0.0]
                print(f"    grad audit: {len(tree_flatten(grads)) - len(zero)} tensors nonzero, zero={zero}")
            tot += loss.item(); nb += 1
            step += 1
        r, pr = recall_at(model)
        print(f"{ep:>3} {step:>5} {lr:>8.4f} {tot / nb:>8.4f} {100 * r:>6.2f}% {100 * pr:>6.2f}%")
    return r


best = {}
for tau in (0.5, 0.1):
    best[tau] = run(tau)
print("sweep summary:", ", ".join(f"tau={t}: {100 * r:.1f}%" for t, r in best.items()))
