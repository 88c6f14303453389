# Link prediction on a synthetic "wood-wide web": which trees in a forest stand
# share a mycorrhizal fungal link?  GraphSAGE-style encoder written by hand
# (scatter-add mean aggregation), edge MLP decoder, BCE with negative sampling.
# Stage A uses uniformly random non-edges as negatives; stage B switches to
# "hard" negatives (near neighbours that are NOT linked), so the loss jumps up
# when the stage changes and the cosine schedule restarts.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(216)
mx.random.seed(216)

# ---------------------------------------------------------------- the stand
N = 180
pos = rng.uniform(0, 100, size=(N, 2))            # metres
species = rng.integers(0, 4, size=N)              # 0,1 = ectomycorrhizal, 2,3 = arbuscular
myco = (species >= 2).astype(np.int64)
age = rng.gamma(3.0, 25.0, size=N)                # years
d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
same = (myco[:, None] == myco[None]).astype(float)
big = np.sqrt(age[:, None] * age[None]) / 60.0
logit = -0.5 - d / 5.0 + 2.5 * same - 1.5 * (1 - same) + 0.8 * big
p = 1 / (1 + np.exp(-logit))
iu = np.triu_indices(N, 1)
link = rng.uniform(size=len(iu[0])) < p[iu]
edges = np.stack([iu[0][link], iu[1][link]], 1)
perm = rng.permutation(len(edges))
n_test = len(edges) // 5
test_pos = edges[perm[:n_test]]
train_pos = edges[perm[n_test:]]
linked = set(map(tuple, edges)) | set((b, a) for a, b in edges)

feat = np.concatenate([
    pos / 100.0,
    np.eye(4)[species],
    (np.log(age) - 4.0)[:, None],
    rng.normal(0, 0.3, size=(N, 2)),               # two nuisance soil readings
], 1).astype(np.float32)

# message passing uses the training edges in both directions
src = np.concatenate([train_pos[:, 0], train_pos[:, 1]])
dst = np.concatenate([train_pos[:, 1], train_pos[:, 0]])
deg = np.bincount(dst, minlength=N).astype(np.float32)
X = mx.array(feat)
SRC, DST = mx.array(src), mx.array(dst)
INV_DEG = mx.array(1.0 / np.maximum(deg, 1.0))[:, None]

# near-but-unlinked pairs: the hard negatives
near_pairs = np.argwhere((d < 14.0) & (np.triu(np.ones((N, N)), 1) > 0))
hard_pool = np.array([pr for pr in near_pairs if tuple(pr) not in linked])


def random_nonedges(k):
    out = []
    while len(out) < k:
        a, b = rng.integers(0, N, 2)
        if a != b and (a, b) not in linked:
            out.append((a, b))
    return np.array(out)


test_rand = random_nonedges(n_test)
test_hard = hard_pool[rng.choice(len(hard_pool), n_test, replace=False)]


class SageLayer(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.self_lin = nn.Linear(din, dout)
        self.nbr_lin = nn.Linear(din, dout, bias=False)

    def __call__(self, h):
        agg = mx.zeros_like(h).at[DST].add(h[SRC]) * INV_DEG
        return self.self_lin(h) + self.nbr_lin(agg)


class LinkModel(nn.Module):
    def __init__(self, din, hid=48):
        super().__init__()
        self.l1 = SageLayer(din, hid)
        self.l2 = SageLayer(hid, hid)
        self.dec = nn.Sequential(nn.Linear(2 * hid, hid), nn.GELU(), nn.Linear(hid, 1))

    def encode(self):
        h = nn.gelu(self.l1(X))
        return self.l2(h)

    def __call__(self, pairs):
        z = self.encode()
        zu, zv = z[pairs[:, 0]], z[pairs[:, 1]]
        return self.dec(mx.concatenate([zu * zv, mx.abs(zu - zv)], -1)).squeeze(-1)


def loss_fn(model, pairs, labels):
    return nn.losses.binary_cross_entropy(model(pairs), labels, reduction="mean")


def auc(pos_s, neg_s):
    s = np.concatenate([pos_s, neg_s])
    r = s.argsort().argsort() + 1
    npos, nneg = len(pos_s), len(neg_s)
    return (r[:npos].sum() - npos * (npos + 1) / 2) / (npos * nneg)


def heuristic_auc(neg):
    # baseline: closer trees are more likely linked (score = -distance)
    return auc(-d[test_pos[:, 0], test_pos[:, 1]], -d[neg[:, 0], neg[:, 1]])


model = LinkModel(feat.shape[1])
mx.eval(model.parameters())
STAGE_EPOCHS = 60
opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-3)
grad_step = nn.value_and_grad(model, loss_fn)

print(f"stand: {N} trees, {len(edges)} fungal links ({len(train_pos)} train / {n_test} test), "
      f"{len(hard_pool)} near-unlinked pairs")
print(f"distance heuristic AUC: random-neg {heuristic_auc(test_rand):.3f} | hard-neg {heuristic_auc(test_hard):.3f}")
print("| stage | ep | lr      | bce    | AUC rand | AUC hard | secs |")
print("|-------|----|---------|--------|----------|----------|------|")
t0 = time.time()
for stage in ("A-random", "B-hard"):
    for ep in range(1, STAGE_EPOCHS + 1):
        lr = 3e-3 * 0.5 * (1 + math.cos(math.pi * (ep - 1) / STAGE_EPOCHS))
        opt.learning_rate = lr
        k = len(train_pos)
        if stage == "A-random":
            neg = random_nonedges(k)
        else:
            neg = np.concatenate([hard_pool[rng.choice(len(hard_pool), k // 2)], random_nonedges(k - k // 2)])
        pairs = mx.array(np.concatenate([train_pos, neg]))
        labels = mx.array(np.concatenate([np.ones(k), np.zeros(len(neg))]).astype(np.float32))
        loss, grads = grad_step(model, pairs, labels)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if ep == 1 or ep % 10 == 0:
            sp = np.array(mx.sigmoid(model(mx.array(test_pos))))
            sr = np.array(mx.sigmoid(model(mx.array(test_rand))))
            sh = np.array(mx.sigmoid(model(mx.array(test_hard))))
            print(f"| {stage:<5} | {ep:2d} | {lr:.5f} | {loss.item():.4f} | {auc(sp, sr):8.3f} | "
                  f"{auc(sp, sh):8.3f} | {time.time() - t0:4.1f} |")
print("done")
