"""Seed-catalogue order baskets -> garden type, with hash embeddings.

A mail-order seed company has a very large, growing SKU space.  Instead of one
embedding row per SKU, each SKU id is hashed by two hash functions into a
shared pool of component vectors, and a third hash picks a pair of learned
importance weights that mix the two components (hash embeddings, Svenstrup
et al. 2017).  Nothing is resized when the catalogue grows.

Season 1 trains on the launch catalogue.  Season 2 adds new SKUs that were
never seen; the model keeps training on baskets that mix old and new SKUs.
Output: one YAML document per report.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 11
N_CLASSES = 6             # vegetable, herb, cut-flower, meadow, fruit, shade
ID_SPACE = 2_000_003      # raw SKU ids live in a big integer space
POOL = 512                # shared component vectors
IMP = 1024                # importance-weight rows
DIM = 24
K = 2
BASKET = 6
NOISE = 0.08
P = 2_147_483_647

rng = np.random.default_rng(SEED)
sku_ids = rng.choice(ID_SPACE, size=3000, replace=False)
sku_class = rng.integers(0, N_CLASSES, size=3000)
launch = np.arange(0, 1800)        # season-1 catalogue
added = np.arange(1800, 3000)      # season-2 additions

HA = [(1_103_515_245, 12_345), (69_069, 1), (22_695_477, 7)]


def h(ids, k, m):
    a, b = HA[k]
    return ((ids.astype(np.int64) * a + b) % P) % m


def baskets(pool_idx, n, new_share=0.0):
    cls = rng.integers(0, N_CLASSES, size=n)
    out = np.empty((n, BASKET), dtype=np.int64)
    by_cls_old = [pool_idx[0][sku_class[pool_idx[0]] == c] for c in range(N_CLASSES)]
    by_cls_new = [pool_idx[1][sku_class[pool_idx[1]] == c] for c in range(N_CLASSES)] if pool_idx[1] is not None else None
    for i in range(n):
        for j in range(BASKET):
            if j < 4:   # 4 on-type items, 2 random items
                src = by_cls_new[cls[i]] if (by_cls_new is not None and rng.random() < new_share) else by_cls_old[cls[i]]
            else:
                src = pool_idx[0] if (by_cls_new is None or rng.random() >= new_share) else pool_idx[1]
            out[i, j] = sku_ids[rng.choice(src)]
    flip = rng.random(n) < NOISE
    cls[flip] = rng.integers(0, N_CLASSES, size=flip.sum())
    return out, cls


def encode(b):
    comp = np.stack([h(b, 0, POOL), h(b, 1, POOL)], -1)      # (n, BASKET, K)
    imp = h(b, 2, IMP)                                         # (n, BASKET)
    return mx.array(comp.astype(np.int32)), mx.array(imp.astype(np.int32))


class HashEmbedBag(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.Embedding(POOL, DIM)
        self.importance = nn.Embedding(IMP, K)
        self.importance.weight = mx.random.normal((IMP, K)) * 0.1 + 0.5
        self.fc = nn.Linear(DIM, 48)
        self.cls = nn.Linear(48, N_CLASSES)

    def __call__(self, comp, imp):
        vecs = self.pool(comp)                       # (n, B, K, DIM)
        w = self.importance(imp)[..., None]          # (n, B, K, 1)
        item = (w * vecs).sum(axis=2)                # (n, B, DIM)
        bag = item.mean(axis=1)
        return self.cls(nn.relu(self.fc(bag)))


def loss_fn(m, comp, imp, y):
    return nn.losses.cross_entropy(m(comp, imp), y, reduction="mean")


def acc(m, comp, imp, y):
    return (mx.argmax(m(comp, imp), axis=1) == y).astype(mx.float32).mean().item()


tr1 = baskets((launch, None), 6000)
tr2 = baskets((launch, added), 6000, new_share=0.5)
ev_old = baskets((launch, None), 1500)
ev_new = baskets((launch, added), 1500, new_share=1.0)
E = {k: (*encode(b), mx.array(y.astype(np.int32))) for k, (b, y) in
     {"old_skus": ev_old, "new_skus": ev_new}.items()}
majority = max(np.bincount(ev_old[1], minlength=N_CLASSES)) / len(ev_old[1])
ceiling = 1 - NOISE + NOISE / N_CLASSES

mx.random.seed(SEED)
model = HashEmbedBag()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, loss_fn)

collide = len(set(zip(h(sku_ids, 0, POOL).tolist(), h(sku_ids, 1, POOL).tolist())))
print("---")
print("event: setup")
print(f"skus_total: {len(sku_ids)}")
print(f"distinct_component_pairs: {collide}")
print(f"params: {sum(v.size for _, v in nn.utils.tree_flatten(model.parameters()))}")
print(f"majority_baseline: {majority:.3f}")
print(f"noise_ceiling: {ceiling:.3f}")

t0 = time.time()
BATCH = 96
for season, (b, y), steps, peak in (("1", tr1, 600, 0.01), ("2", tr2, 600, 0.01)):
    comp_all, imp_all = encode(b)
    y_all = mx.array(y.astype(np.int32))
    warm = 50
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, 0.0)], [warm])
    opt = optim.Adam(learning_rate=sched)
    order = np.random.default_rng(SEED + int(season))
    run = []
    for step in range(steps):
        lr_now = float(sched(opt.step).item())
        idx = mx.array(order.integers(0, len(y), BATCH).astype(np.int32))
        loss, g = vg(model, comp_all[idx], imp_all[idx], y_all[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if step in (0, 60, 200, steps - 1):
            print("---")
            print("event: report")
            print(f"season: {season}")
            print(f"step: {step}")
            print(f"lr: {lr_now:.5f}")
            print(f"train_xent_window: {np.mean(run[-50:]):.4f}")
            for k, (c, i, yy) in E.items():
                print(f"acc_{k}: {acc(model, c, i, yy):.3f}")
            print(f"elapsed_s: {time.time() - t0:.1f}")

print("---")
print("event: done")
print(f"acc_old_skus: {acc(model, *E['old_skus']):.3f}")
print(f"acc_new_skus: {acc(model, *E['new_skus']):.3f}")
print(f"majority_baseline: {majority:.3f}")
print("...")
