"""Tannery pit register: ConvKB link prediction with a mid-run checkpoint.

Session 1 trains for 40 epochs and writes weights, Adam state and a small
meta file; session 2 builds a fresh model and optimizer, reloads everything
and trains to epoch 80.  Every report is one logfmt line.  The objective is
reported as the mean log-likelihood per labelled fact (negative, closer to
zero is better).
"""
import json
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

T0 = time.perf_counter()


def log(**kv):
    parts = [f"t={time.perf_counter() - T0:.1f}"]
    for k, v in kv.items():
        if isinstance(v, float):
            v = f"{v:.4f}"
        v = str(v)
        parts.append(f'{k}="{v}"' if " " in v else f"{k}={v}")
    print(" ".join(parts), flush=True)


# ---------------------------------------------------------------- register
data_rng = np.random.default_rng(11)
N_HIDE, N_PIT, N_LIQ, N_BUYER = 120, 8, 4, 4
hide = lambda i: i
pit = lambda j: N_HIDE + j
liq = lambda j: N_HIDE + N_PIT + j
buyer = lambda j: N_HIDE + N_PIT + N_LIQ + j
N_ENT = N_HIDE + N_PIT + N_LIQ + N_BUYER
RELS = ["soaked_in", "pit_liquor", "sold_to", "tanned_with", "same_pit"]
facts = set()
pit_of = data_rng.integers(0, N_PIT, size=N_HIDE)
liquor_of_pit = np.arange(N_PIT) % N_LIQ
for i in range(N_HIDE):
    facts.add((hide(i), 0, pit(pit_of[i])))
    facts.add((hide(i), 2, buyer(pit_of[i] // 2)))
    facts.add((hide(i), 3, liq(liquor_of_pit[pit_of[i]])))
for j in range(N_PIT):
    facts.add((pit(j), 1, liq(liquor_of_pit[j])))
    members = np.where(pit_of == j)[0]
    for a in members:
        for c in data_rng.choice(members[members != a], size=3, replace=False):
            facts.add((hide(a), 4, hide(int(c))))
facts = np.array(sorted(facts), dtype=np.int32)
perm = data_rng.permutation(len(facts))
n_test = len(facts) // 8
test, train = facts[perm[:n_test]], facts[perm[n_test:]]
known = {}
for h, r, t in facts:
    known.setdefault((int(h), int(r)), set()).add(int(t))
log(event="data", entities=N_ENT, relations=len(RELS), train=len(train), test=len(test))


class ConvKB(nn.Module):
    def __init__(self, n_ent, n_rel, dim=24, filters=16):
        super().__init__()
        self.ent = nn.Embedding(n_ent, dim)
        self.rel = nn.Embedding(n_rel, dim)
        self.conv = nn.Conv1d(3, filters, kernel_size=1)   # one 1x3 filter bank
        self.out = nn.Linear(dim * filters, 1)

    def __call__(self, h, r, t):
        x = mx.stack([self.ent(h), self.rel(r), self.ent(t)], axis=-1)  # (B, dim, 3)
        f = nn.relu(self.conv(x))                                       # (B, dim, filters)
        return self.out(f.reshape(f.shape[0], -1)).squeeze(-1)          # logit


def loss_fn(model, trip, y, w, lam=1e-4):
    s = model(trip[:, 0], trip[:, 1], trip[:, 2])
    nll = mx.sum(w * nn.softplus(-y * s)) / mx.sum(w)
    l2 = sum(mx.sum(v * v) for _, v in tree_flatten(model.out.parameters()))
    return nll + lam * l2, nll


def evaluate(model, part):
    ranks = []
    all_t = mx.arange(N_ENT)
    for h, r, t in part:
        s = np.array(model(mx.full((N_ENT,), int(h)), mx.full((N_ENT,), int(r)), all_t))
        for other in known[(int(h), int(r))]:
            if other != t:
                s[other] = -np.inf
        ranks.append(1 + int(np.sum(s > s[t])))
    ranks = np.array(ranks, dtype=np.float64)
    return float(np.mean(1.0 / ranks)), float(np.mean(ranks <= 3))


def freq_baseline(part):
    tally = {}
    for h, r, t in train:
        tally.setdefault(int(r), {}).setdefault(int(t), 0)
        tally[int(r)][int(t)] += 1
    rr = []
    for h, r, t in part:
        order = sorted(tally[int(r)], key=lambda k: -tally[int(r)][k])
        rr.append(1.0 / (order.index(int(t)) + 1) if int(t) in order else 1.0 / N_ENT)
    return float(np.mean(rr))


EPOCHS, BATCH, RESUME_AT, NEG = 80, 64, 40, 4
STEPS_PER_EPOCH = int(np.ceil(len(train) / BATCH))
schedule = optim.cosine_decay(1e-2, EPOCHS * STEPS_PER_EPOCH, 3e-4)


def make(seed):
    mx.random.seed(seed)
    m = ConvKB(N_ENT, len(RELS))
    o = optim.Adam(learning_rate=schedule)
    return m, o


def epoch_pass(model, opt, rng):
    grad_fn = nn.value_and_grad(model, loss_fn)
    order = rng.permutation(len(train))
    tot, n = 0.0, 0
    for k in range(0, len(order), BATCH):
        pos = train[order[k:k + BATCH]]
        neg = np.repeat(pos, NEG, axis=0)
        side = rng.random(len(neg)) < 0.5
        rnd = rng.integers(0, N_ENT, size=len(neg))
        neg[:, 0] = np.where(side, rnd, neg[:, 0])
        neg[:, 2] = np.where(side, neg[:, 2], rnd)
        trip = mx.array(np.concatenate([pos, neg]))
        y = mx.array(np.concatenate([np.ones(len(pos)), -np.ones(len(neg))]).astype(np.float32))
        w = mx.array(np.concatenate([np.full(len(pos), NEG / 2.0), np.full(len(neg), 0.5)]).astype(np.float32))
        (loss, nll), grads = grad_fn(model, trip, y, w)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, nll)
        tot += nll.item()
        n += 1
    return -tot / n


log(event="baseline", random_mrr=float(np.mean(1.0 / np.arange(1, N_ENT + 1))),
    relation_frequency_mrr=freq_baseline(test))

# ------------------------------------------------------------ session one
model, opt = make(seed=1)
train_rng = np.random.default_rng(5)
mrr, h3 = evaluate(model, test)
log(event="untrained", test_mrr=mrr, hits3=h3)
for epoch in range(1, RESUME_AT + 1):
    ll = epoch_pass(model, opt, train_rng)
    if epoch % 8 == 0:
        mrr, h3 = evaluate(model, test)
        log(session=1, epoch=epoch, lr=float(opt.learning_rate), loglik=ll, test_mrr=mrr, hits3=h3)
ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "adam.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as f:
    json.dump({"epoch": RESUME_AT, "rng": train_rng.bit_generator.state}, f)
ref_mrr, _ = evaluate(model, test)
log(event="checkpoint", dir=ckpt, epoch=RESUME_AT, step=int(opt.state["step"].item()), test_mrr=ref_mrr)
del model, opt, train_rng

# ------------------------------------------------------------ session two
model, opt = make(seed=99)
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "adam.safetensors")).items()))
with open(os.path.join(ckpt, "meta.json")) as f:
    meta = json.load(f)
train_rng = np.random.default_rng()
train_rng.bit_generator.state = meta["rng"]
mrr, _ = evaluate(model, test)
log(event="resumed", epoch=meta["epoch"], step=int(opt.state["step"].item()),
    test_mrr=mrr, matches_checkpoint=abs(mrr - ref_mrr) < 1e-9)
for epoch in range(meta["epoch"] + 1, EPOCHS + 1):
    ll = epoch_pass(model, opt, train_rng)
    if epoch % 8 == 0:
        mrr, h3 = evaluate(model, test)
        log(session=2, epoch=epoch, lr=float(opt.learning_rate), loglik=ll, test_mrr=mrr, hits3=h3)

for r, name in enumerate(RELS):
    sub = test[test[:, 1] == r]
    if len(sub):
        m, h = evaluate(model, sub)
        log(event="relation", name=name, n=len(sub), test_mrr=m, hits3=h)
mrr, h3 = evaluate(model, test)
log(event="done", test_mrr=mrr, hits3=h3)
shutil.rmtree(ckpt, ignore_errors=True)
