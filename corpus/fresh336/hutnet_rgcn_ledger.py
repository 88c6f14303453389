"""Alpine hut network: link prediction with an R-GCN encoder and a DistMult decoder.

Synthetic register: 150 mountain huts in 6 valleys plus 6 supply depots.
Relations: trail_link (neighbouring huts on a valley loop, both ways),
same_valley (sampled pairs), supplied_from (hut -> its valley depot),
pass_link (a few cross-valley saddles).
Training is paused half way, written to disk, and resumed in fresh objects.
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)

N_VALLEY, HUTS_PER = 6, 25
N_HUT = N_VALLEY * HUTS_PER
N_ENT = N_HUT + N_VALLEY
REL_NAMES = ["trail_link", "same_valley", "supplied_from", "pass_link"]
N_REL = len(REL_NAMES)


def hut(v, k):
    return v * HUTS_PER + (k % HUTS_PER)


facts = set()
for v in range(N_VALLEY):
    for k in range(HUTS_PER):
        facts.add((hut(v, k), 0, hut(v, k + 1)))
        facts.add((hut(v, k + 1), 0, hut(v, k)))
        facts.add((hut(v, k), 2, N_HUT + v))
        for k2 in rng.choice(HUTS_PER, size=3, replace=False):
            if k2 != k:
                facts.add((hut(v, k), 1, hut(v, int(k2))))
    for k in (0, 12):
        w = (v + 1) % N_VALLEY
        facts.add((hut(v, k), 3, hut(w, k)))
        facts.add((hut(w, k), 3, hut(v, k)))

facts = np.array(sorted(facts), dtype=np.int32)
rng.shuffle(facts)
n_test = len(facts) // 10
test_np, train_np = facts[:n_test], facts[n_test:]
known = {tuple(t) for t in facts.tolist()}

# message-passing graph from training facts only, with inverse relations
src = np.concatenate([train_np[:, 0], train_np[:, 2]])
dst = np.concatenate([train_np[:, 2], train_np[:, 0]])
erel = np.concatenate([train_np[:, 1], train_np[:, 1] + N_REL])
deg = {}
for d, r in zip(dst.tolist(), erel.tolist()):
    deg[(d, r)] = deg.get((d, r), 0) + 1
enorm = np.array([1.0 / deg[(d, r)] for d, r in zip(dst.tolist(), erel.tolist())], dtype=np.float32)
SRC, DST, EREL, ENORM = mx.array(src), mx.array(dst), mx.array(erel), mx.array(enorm)[:, None]


class RGCNLayer(nn.Module):
    def __init__(self, d_in, d_out, n_rel_total, n_basis):
        super().__init__()
        s = 1.0 / math.sqrt(d_in)
        self.bases = mx.random.uniform(-s, s, (n_basis, d_in, d_out))
        self.coef = mx.random.normal((n_rel_total, n_basis)) * 0.5
        self.self_loop = nn.Linear(d_in, d_out, bias=False)

    def __call__(self, h):
        hb = mx.einsum("nd,bde->bne", h, self.bases)          # (B, N, d_out)
        per_edge = hb[:, SRC, :]                               # (B, E, d_out)
        c = self.coef[EREL].T[:, :, None]                      # (B, E, 1)
        msg = (c * per_edge).sum(axis=0) * ENORM               # (E, d_out)
        agg = mx.zeros((h.shape[0], msg.shape[1])).at[DST].add(msg)
        return agg + self.self_loop(h)


class HutNet(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.ent = nn.Embedding(N_ENT, dim)
        self.l1 = RGCNLayer(dim, dim, 2 * N_REL, 3)
        self.l2 = RGCNLayer(dim, dim, 2 * N_REL, 3)
        self.rel = nn.Embedding(N_REL, dim)
        self.drop = nn.Dropout(0.1)

    def encode(self):
        h = self.ent.weight
        h = self.drop(nn.relu(self.l1(h)))
        return self.l2(h)

    def score(self, z, h, r, t):
        return (z[h] * self.rel(r) * z[t]).sum(axis=-1)


N_NEG = 6


def loss_fn(model, h, r, t, h_neg, t_neg):
    z = model.encode()
    pos = model.score(z, h, r, t)
    neg_t = model.score(z, h[:, None], r[:, None], t_neg)
    neg_h = model.score(z, h_neg, r[:, None], t[:, None])
    logits = mx.concatenate([pos[:, None], neg_t, neg_h], axis=1)
    labels = mx.concatenate([mx.ones((pos.shape[0], 1)), mx.zeros((pos.shape[0], 2 * N_NEG))], axis=1)
    bce = nn.losses.binary_cross_entropy(logits, labels, with_logits=True, reduction="none")
    weights = mx.concatenate([mx.ones((pos.shape[0], 1)) * N_NEG, mx.ones((pos.shape[0], 2 * N_NEG)) * 0.5], axis=1)
    return (bce * weights).sum() / weights.sum()


def filtered_tail_ranks(model, triples):
    model.eval()
    z = model.encode()
    all_scores = (z[mx.array(triples[:, 0])] * model.rel(mx.array(triples[:, 1])))[:, None, :]
    all_scores = (all_scores * z[None, :, :]).sum(-1)
    mx.eval(all_scores)
    sc = np.array(all_scores)
    model.train()
    ranks = []
    for i, (h, r, t) in enumerate(triples.tolist()):
        target = sc[i, t]
        mask = np.array([(h, r, e) not in known or e == t for e in range(N_ENT)])
        ranks.append(1 + int(np.sum((sc[i] > target) & mask)))
    ranks = np.array(ranks)
    return float(np.mean(1.0 / ranks)), float(np.mean(ranks <= 10))


def popularity_baseline(triples):
    counts = np.zeros((N_REL, N_ENT))
    for h, r, t in train_np.tolist():
        counts[r, t] += 1
    ranks = []
    for h, r, t in triples.tolist():
        s = counts[r] + rng.random(N_ENT) * 1e-3
        mask = np.array([(h, r, e) not in known or e == t for e in range(N_ENT)])
        ranks.append(1 + int(np.sum((s > s[t]) & mask)))
    ranks = np.array(ranks)
    return float(np.mean(1.0 / ranks)), float(np.mean(ranks <= 10))


TOTAL_STEPS, PAUSE_AT, WARM = 600, 300, 60
BATCH = 256


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-2, WARM), optim.cosine_decay(1e-2, TOTAL_STEPS - WARM, 5e-4)], [WARM]
    )
    return optim.Adam(learning_rate=sched)


def sample_batch():
    idx = rng.integers(0, len(train_np), size=BATCH)
    b = train_np[idx]
    h_neg = rng.integers(0, N_ENT, size=(BATCH, N_NEG)).astype(np.int32)
    t_neg = rng.integers(0, N_ENT, size=(BATCH, N_NEG)).astype(np.int32)
    return mx.array(b[:, 0]), mx.array(b[:, 1]), mx.array(b[:, 2]), mx.array(h_neg), mx.array(t_neg)


def report(doc):
    print("---")
    for k, v in doc.items():
        print(f"{k}: {v}")


rand_mrr = float(np.mean([1.0 / k for k in range(1, N_ENT + 1)]))
pop_mrr, pop_h10 = popularity_baseline(test_np)
report({
    "event": "start",
    "entities": N_ENT,
    "relations": ", ".join(REL_NAMES),
    "train_facts": len(train_np),
    "test_facts": len(test_np),
    "message_edges": int(len(src)),
    "reference_random_mrr": f"{rand_mrr:.4f}",
    "reference_popularity_mrr": f"{pop_mrr:.4f}",
    "reference_popularity_hits10": f"{pop_h10:.3f}",
})

model = HutNet()
opt = make_optimizer()
mx.eval(model.parameters())
step_fn = nn.value_and_grad(model, loss_fn)

# audit: the very first update happens at learning rate 0
before = np.array(model.ent.weight)
loss, grads = step_fn(model, *sample_batch())
leaves = [k for k, g in tree_flatten(grads)]
opt.update(model, grads)
mx.eval(model.parameters(), opt.state)
moved = float(np.abs(np.array(model.ent.weight) - before).max())
report({"event": "audit", "step": 0, "lr_used": 0.0, "grad_leaves": len(leaves), "max_abs_entity_change": f"{moved:.3g}"})

t0 = time.time()
window = []
step = 1
ckdir = tempfile.mkdtemp()
while step < TOTAL_STEPS:
    loss, grads = step_fn(model, *sample_batch())
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    step += 1
    if step % 100 == 0:
        mrr, h10 = filtered_tail_ranks(model, test_np)
        report({
            "event": "eval",
            "step": step,
            "lr": f"{opt.learning_rate.item():.2e}",
            "weighted_bce_window": f"{np.mean(window):.4f}",
            "test_filtered_mrr": f"{mrr:.4f}",
            "test_hits10": f"{h10:.3f}",
            "seconds": f"{time.time() - t0:.1f}",
        })
        window = []
    if step == PAUSE_AT:
        model.save_weights(os.path.join(ckdir, "weights.safetensors"))
        mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        with open(os.path.join(ckdir, "meta.json"), "w") as f:
            json.dump({"step": step, "rng": rng.bit_generator.state}, f)
        ref_w = np.array(model.rel.weight)
        del model, opt, step_fn
        # resume in fresh objects
        mx.random.seed(99)
        model = HutNet()
        model.load_weights(os.path.join(ckdir, "weights.safetensors"))
        opt = make_optimizer()
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
        with open(os.path.join(ckdir, "meta.json")) as f:
            meta = json.load(f)
        step = meta["step"]
        step_fn = nn.value_and_grad(model, loss_fn)
        mx.eval(model.parameters(), opt.state)
        same = bool(np.array_equal(np.array(model.rel.weight), ref_w))
        report({"event": "resumed", "step": step, "optimizer_step": int(opt.state["step"].item()),
                "relation_table_identical": same, "checkpoint_dir": os.path.basename(ckdir)})

mrr, h10 = filtered_tail_ranks(model, test_np)
report({
    "event": "done",
    "steps": step,
    "test_filtered_mrr": f"{mrr:.4f}",
    "test_hits10": f"{h10:.3f}",
    "mrr_over_popularity": f"{mrr - pop_mrr:+.4f}",
    "mrr_over_random": f"{mrr - rand_mrr:+.4f}",
})
