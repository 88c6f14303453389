"""County bus network: node2vec embeddings of stops.

Stops belong to six market-town districts; routes mostly stay inside a
district with a few inter-town links.  We hold out 10% of the links, build
biased second-order random walks (node2vec, p=1, q=0.5) on the rest, and
train skip-gram with negative sampling.  The run is split in two sessions:
session 1 saves weights + optimizer state and exits its objects; session 2
rebuilds everything from the files and carries on.
"""
import os
import shutil
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(3)
N_DIST, PER = 6, 45
N = N_DIST * PER
district = np.repeat(np.arange(N_DIST), PER)

# ----- synthetic network ----------------------------------------------------
same = district[:, None] == district[None, :]
prob = np.where(same, 0.14, 0.004)
upper = np.triu(rng.random((N, N)) < prob, 1)
edges = np.argwhere(upper)
rng.shuffle(edges)
n_hold = len(edges) // 10
hold, keep = edges[:n_hold], edges[n_hold:]
adj = [set() for _ in range(N)]
for a, b in keep:
    adj[a].add(b); adj[b].add(a)
nbrs = [np.array(sorted(s)) for s in adj]
edge_set = {(min(a, b), max(a, b)) for a, b in edges}
neg = []
while len(neg) < n_hold:
    a, b = rng.integers(0, N, 2)
    if a != b and (min(a, b), max(a, b)) not in edge_set:
        neg.append((a, b))
neg = np.array(neg)
print(f"stops {N}, links kept {len(keep)}, held-out links {n_hold} + {n_hold} non-links")

# ----- node2vec walks (pure python, takes a moment) ---------------------------
P_RET, Q_IO, WALK_LEN, WALKS_PER = 1.0, 0.5, 24, 8
def walk(start):
    w = [start]
    if len(nbrs[start]) == 0:
        return w
    w.append(int(rng.choice(nbrs[start])))
    while len(w) < WALK_LEN:
        cur, prev = w[-1], w[-2]
        cand = nbrs[cur]
        if len(cand) == 0:
            break
        wts = np.where(cand == prev, 1.0 / P_RET,
                       np.where(np.isin(cand, nbrs[prev]), 1.0, 1.0 / Q_IO))
        w.append(int(rng.choice(cand, p=wts / wts.sum())))
    return w

t0 = time.time()
walks = [walk(s) for _ in range(WALKS_PER) for s in rng.permutation(N)]
WINDOW = 4
centre, context = [], []
for w in walks:
    for i, c in enumerate(w):
        for j in range(max(0, i - WINDOW), min(len(w), i + WINDOW + 1)):
            if j != i:
                centre.append(c); context.append(w[j])
centre, context = np.array(centre), np.array(context)
deg = np.array([len(s) for s in adj], dtype=np.float64)
noise = deg ** 0.75; noise /= noise.sum()
print(f"walks {len(walks)}, skip-gram pairs {len(centre)}, built in {time.time() - t0:.1f}s")

# ----- model ------------------------------------------------------------------
DIM, NEG, BATCH, EPOCHS = 32, 5, 1024, 6
STEPS_PER_EPOCH = int(np.ceil(len(centre) / BATCH))
TOTAL = STEPS_PER_EPOCH * EPOCHS


class SkipGram(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Embedding(N, DIM)
        self.out = nn.Embedding(N, DIM)
        self.out.weight = mx.zeros((N, DIM))

    def __call__(self, c, o, ng):
        v = self.inp(c)
        pos = (v * self.out(o)).sum(-1)
        negs = (self.out(ng) * v[:, None, :]).sum(-1)
        return -(nn.log_sigmoid(pos) + nn.log_sigmoid(-negs).sum(-1)).mean()


def make_optimizer():
    warm = optim.linear_schedule(0.0, 0.02, 150)
    decay = optim.cosine_decay(0.02, TOTAL - 150, 1e-3)
    return optim.Adam(learning_rate=optim.join_schedules([warm, decay], [150]))


def loss_fn(model, c, o, ng):
    return model(c, o, ng)


def auc(model):
    e = np.array(model.inp.weight)
    e = e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-9)
    sp = (e[hold[:, 0]] * e[hold[:, 1]]).sum(1)
    sn = (e[neg[:, 0]] * e[neg[:, 1]]).sum(1)
    return (sp[:, None] > sn[None, :]).mean() + 0.5 * (sp[:, None] == sn[None, :]).mean()


def district_purity(model, k=8):
    e = np.array(model.inp.weight)
    e = e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-9)
    sim = e @ e.T
    np.fill_diagonal(sim, -np.inf)
    top = np.argsort(-sim, axis=1)[:, :k]
    return (district[top] == district[:, None]).mean()


def common_neighbour_auc():
    cn = lambda p: np.array([len(adj[a] & adj[b]) for a, b in p], dtype=float)
    sp, sn = cn(hold), cn(neg)
    return (sp[:, None] > sn[None, :]).mean() + 0.5 * (sp[:, None] == sn[None, :]).mean()


def run_epochs(model, opt, first_epoch, last_epoch):
    vg = nn.value_and_grad(model, loss_fn)
    for ep in range(first_epoch, last_epoch + 1):
        perm = rng.permutation(len(centre))
        tot, nb = 0.0, 0
        for s in range(0, len(perm), BATCH):
            b = perm[s:s + BATCH]
            ng = rng.choice(N, size=(len(b), NEG), p=noise)
            loss, g = vg(model, mx.array(centre[b]), mx.array(context[b]), mx.array(ng))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
            if nb == 1 and ep == 1:
                print(f"  first step  lr {opt.learning_rate.item():.5f}  loss {loss.item():.4f}")
        print(f"epoch {ep}  step {opt.step.item():5d}  lr {opt.learning_rate.item():.5f}  "
              f"sgns loss {tot / nb:.4f}  held-out AUC {auc(model):.3f}  "
              f"district purity@8 {district_purity(model):.3f}")


print(f"baselines: random AUC 0.500, common-neighbour AUC {common_neighbour_auc():.3f}, "
      f"random purity {1 / N_DIST:.3f}")

ckpt = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_stagecoach_ckpt")
os.makedirs(ckpt, exist_ok=True)

# session 1
mx.random.seed(5)
model = SkipGram(); opt = make_optimizer()
mx.eval(model.parameters())
run_epochs(model, opt, 1, 3)
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
print(f"session 1 saved at step {opt.step.item()}")
del model, opt

# session 2: rebuild from the files
model = SkipGram(); opt = make_optimizer()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "optimizer.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
print(f"session 2 resumed at step {opt.step.item()}  lr {opt.learning_rate.item():.5f}  "
      f"held-out AUC {auc(model):.3f}")
run_epochs(model, opt, 4, EPOCHS)
shutil.rmtree(ckpt)
print(f"final held-out AUC {auc(model):.3f} (common-neighbour {common_neighbour_auc():.3f}), "
      f"district purity@8 {district_purity(model):.3f}, total {time.time() - t0:.1f}s")
