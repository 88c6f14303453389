"""Bell-tower guild register: link prediction with TransH (relation hyperplanes),
margin ranking loss, Bernoulli head/tail corruption, linear LR warm-up from 0,
a mid-run checkpoint that is reloaded into a fresh model + optimizer."""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
N_GUILD, PER_GUILD = 10, 12
N_TOWER = N_GUILD * PER_GUILD
N_ENT = N_TOWER + N_GUILD            # towers then guild halls
REL = ["next_on_tour", "same_guild", "belongs_to", "rings_with"]

triples = []
for g in range(N_GUILD):
    towers = [g * PER_GUILD + i for i in range(PER_GUILD)]
    hall = N_TOWER + g
    for i, t in enumerate(towers):
        triples.append((t, 0, towers[(i + 1) % PER_GUILD]))
        triples.append((t, 2, hall))
        for j in range(PER_GUILD):
            if j != i and rng.random() < 0.35:
                triples.append((t, 1, towers[j]))
    # joint peals with the neighbouring guild, tower i with tower i of guild g+1
    nxt = (g + 1) % N_GUILD
    for i in range(0, PER_GUILD, 2):
        triples.append((towers[i], 3, nxt * PER_GUILD + i))
triples = np.array(sorted(set(triples)), dtype=np.int32)
perm = rng.permutation(len(triples))
n_test = len(triples) // 10
test = triples[perm[:n_test]]
test = test[test[:, 1] != 2]                  # hall membership always seen in training
train = np.concatenate([triples[perm[n_test:]], triples[perm[:n_test]][triples[perm[:n_test]][:, 1] == 2]])
known = {tuple(t) for t in triples}
print(f"entities {N_ENT} | relations {len(REL)} | train {len(train)} | test {len(test)}")

# Bernoulli corruption: replace the head with prob tph / (tph + hpt)
p_head = np.zeros(len(REL), dtype=np.float32)
for r in range(len(REL)):
    sub = train[train[:, 1] == r]
    tph = np.mean(np.unique(sub[:, 0], return_counts=True)[1])
    hpt = np.mean(np.unique(sub[:, 2], return_counts=True)[1])
    p_head[r] = tph / (tph + hpt)
print("head-corruption prob per relation:", " ".join(f"{REL[r]}={p_head[r]:.2f}" for r in range(len(REL))))


class TransH(nn.Module):
    def __init__(self, n_ent, n_rel, dim=32):
        super().__init__()
        b = 6.0 / np.sqrt(dim)
        self.ent = nn.Embedding(n_ent, dim)
        self.rel = nn.Embedding(n_rel, dim)
        self.normal = nn.Embedding(n_rel, dim)
        self.ent.weight = mx.random.uniform(-b, b, (n_ent, dim))
        self.rel.weight = mx.random.uniform(-b, b, (n_rel, dim))

    def _project(self, e, w):
        w = w / mx.linalg.norm(w, axis=-1, keepdims=True)
        return e - (e * w).sum(-1, keepdims=True) * w

    def distance(self, h, r, t):
        w = self.normal(r)
        hp = self._project(self.ent(h), w)
        tp = self._project(self.ent(t), w)
        return mx.linalg.norm(hp + self.rel(r) - tp, axis=-1)

    def all_tail_distance(self, h, r):
        w = self.normal(r)                                       # (B, d)
        w = w / mx.linalg.norm(w, axis=-1, keepdims=True)
        hp = self._project(self.ent(h), w) + self.rel(r)         # (B, d)
        E = self.ent.weight                                      # (N, d)
        Ep = E[None] - (E[None] * w[:, None]).sum(-1, keepdims=True) * w[:, None]
        return mx.linalg.norm(hp[:, None] - Ep, axis=-1)         # (B, N)


MARGIN, SOFT_C = 1.0, 0.02


def loss_fn(model, pos, neg):
    dp = model.distance(pos[:, 0], pos[:, 1], pos[:, 2])
    dn = model.distance(neg[:, 0], neg[:, 1], neg[:, 2])
    hinge = mx.maximum(0.0, MARGIN + dp - dn).mean()
    e = model.ent(mx.concatenate([pos[:, 0], pos[:, 2]]))
    scale = mx.maximum(0.0, (e * e).sum(-1) - 1.0).mean()
    w = model.normal(pos[:, 1])
    orth = mx.maximum(0.0, ((w * model.rel(pos[:, 1])).sum(-1) ** 2) / ((w * w).sum(-1) * (model.rel(pos[:, 1]) ** 2).sum(-1)) - 1e-3).mean()
    return hinge + SOFT_C * (scale + orth), hinge


def corrupt(batch):
    neg = batch.copy()
    heads = rng.random(len(batch)) < p_head[batch[:, 1]]
    rand = rng.integers(0, N_ENT, len(batch))
    neg[heads, 0] = rand[heads]
    neg[~heads, 2] = rand[~heads]
    return neg


def evaluate(model):
    d = np.array(model.all_tail_distance(mx.array(test[:, 0]), mx.array(test[:, 1])))
    ranks = []
    for i, (h, r, t) in enumerate(test):
        row = d[i].copy()
        for c in range(N_ENT):
            if c != t and (h, r, c) in known:
                row[c] = np.inf
        ranks.append(1 + int((row < row[t]).sum()))
    ranks = np.array(ranks)
    return (1.0 / ranks).mean(), (ranks <= 10).mean()


EPOCHS, BATCH, PEAK_LR = 80, 128, 0.02
steps_per_epoch = int(np.ceil(len(train) / BATCH))
total = EPOCHS * steps_per_epoch
warm = 3 * steps_per_epoch
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK_LR, warm), optim.cosine_decay(PEAK_LR, total - warm, 1e-3)], [warm])

rand_mrr = float(np.mean(1.0 / np.arange(1, N_ENT + 1)))
print(f"random-ranking baseline: MRR {rand_mrr:.3f} | Hits@10 {10 / N_ENT:.3f}")


def make(seed):
    mx.random.seed(seed)
    m = TransH(N_ENT, len(REL))
    o = optim.Adam(learning_rate=schedule)
    mx.eval(m.parameters())
    return m, o


def run_epochs(model, opt, first, last):
    step_fn = nn.value_and_grad(model, lambda m, p, n: loss_fn(m, p, n))
    for epoch in range(first, last + 1):
        order = rng.permutation(len(train))
        tot, hinge_tot, zero_batches = 0.0, 0.0, 0
        for s in range(steps_per_epoch):
            b = train[order[s * BATCH:(s + 1) * BATCH]]
            (loss, hinge), grads = step_fn(model, mx.array(b), mx.array(corrupt(b)))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item()
            hinge_tot += hinge.item()
            zero_batches += hinge.item() == 0.0
        if epoch == 1 or epoch % 10 == 0:
            mrr, h10 = evaluate(model)
            print(f"epoch {epoch:3d} | lr {opt.learning_rate.item():.5f} | loss {tot / steps_per_epoch:.4f} "
                  f"| hinge {hinge_tot / steps_per_epoch:.4f} | zero-hinge batches {zero_batches}/{steps_per_epoch} "
                  f"| test MRR {mrr:.3f} | Hits@10 {h10:.3f}")


t0 = time.time()
model, opt = make(5)
mrr0, h0 = evaluate(model)
print(f"untrained: test MRR {mrr0:.3f} | Hits@10 {h0:.3f}")
run_epochs(model, opt, 1, 40)

ckpt_dir = tempfile.mkdtemp()
mx.save_safetensors(os.path.join(ckpt_dir, "model.safetensors"), dict(tree_flatten(model.parameters())))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written after epoch 40 ({len(os.listdir(ckpt_dir))} files)")
del model, opt

model, opt = make(999)                          # fresh objects, different init
model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
mrr_r, h_r = evaluate(model)
print(f"resumed at step {opt.step.item()} | lr {opt.learning_rate.item():.5f} | test MRR {mrr_r:.3f} | Hits@10 {h_r:.3f}")
run_epochs(model, opt, 41, EPOCHS)

mrr, h10 = evaluate(model)
print(f"final: test MRR {mrr:.3f} (random {rand_mrr:.3f}) | Hits@10 {h10:.3f} (random {10 / N_ENT:.3f}) | {time.time() - t0:.1f}s")
