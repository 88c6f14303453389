"""RESCAL link prediction on a synthetic canal toll ledger, with a checkpoint/resume.

Canals carry numbered locks; every lock has a keeper; wharves sit below some
locks; boats pay tolls at the locks after their home wharf.  RESCAL scores a
fact as h^T W_r t with a full matrix per relation.  Logistic loss against
sampled corruptions, Adam under a linear warm-up that starts at exactly 0
followed by cosine decay.  The run stops half way, writes weights, optimizer
state and bookkeeping to disk, rebuilds everything from the files and goes on.
Reports are YAML documents.
"""
import json
import os
import shutil
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
DIM = 24
NEG = 6
BATCH = 128
STEPS_PER_EPOCH = 80
EPOCHS, STOP_AT = 12, 6
WARMUP = 40
LR = 0.02
L2 = 0.2

rng = np.random.default_rng(SEED)

# ---------------------------------------------------------------- ledger
N_CANAL, LOCKS_PER, WHARF_PER, BOATS = 6, 8, 4, 80
N_LOCK = N_CANAL * LOCKS_PER
lock = lambda c, i: c * LOCKS_PER + i
keeper = lambda c, i: N_LOCK + c * LOCKS_PER + i
wharf = lambda c, j: 2 * N_LOCK + c * WHARF_PER + j
boat = lambda b: 2 * N_LOCK + N_CANAL * WHARF_PER + b
N_ENT = boat(BOATS)
REL = ["downstream_of", "keeper_of", "wharf_below", "home_wharf", "tolls_at"]

facts = set()
for c in range(N_CANAL):
    for i in range(LOCKS_PER):
        facts.add((keeper(c, i), 1, lock(c, i)))
        if i + 1 < LOCKS_PER:
            facts.add((lock(c, i + 1), 0, lock(c, i)))
    for j in range(WHARF_PER):
        facts.add((wharf(c, j), 2, lock(c, 2 * j)))
for b in range(BOATS):
    c, j = b % N_CANAL, (b // N_CANAL) % WHARF_PER
    facts.add((boat(b), 3, wharf(c, j)))
    for i in range(2 * j, min(2 * j + 3, LOCKS_PER)):
        facts.add((boat(b), 4, lock(c, i)))
facts = np.array(sorted(facts), dtype=np.int32)
rng.shuffle(facts)
n_test = len(facts) // 10
test, train = facts[:n_test], facts[n_test:]
seen = set(train[:, 0]) | set(train[:, 2])
ok = np.array([h in seen and t in seen for h, _, t in test])
train, test = np.concatenate([train, test[~ok]]), test[ok]
known = {tuple(x) for x in facts}


def doc(**kv):
    print("---")
    for k, v in kv.items():
        if isinstance(v, dict):
            print(f"{k}:")
            for k2, v2 in v.items():
                print(f"  {k2}: {v2}")
        else:
            print(f"{k}: {v}")
    print(flush=True)


doc(event="ledger", entities=int(N_ENT), relations=len(REL),
    train_facts=len(train), test_facts=len(test))


# ---------------------------------------------------------------- model
class Rescal(nn.Module):
    def __init__(self, n_ent, n_rel, dim):
        super().__init__()
        self.dim = dim
        self.ent = nn.Embedding(n_ent, dim)
        self.rel = nn.Embedding(n_rel, dim * dim)
        self.ent.weight = mx.random.normal((n_ent, dim)) * 0.1
        self.rel.weight = mx.random.normal((n_rel, dim * dim)) * 0.1

    def mats(self, r):
        return self.rel(r).reshape(-1, self.dim, self.dim)

    def __call__(self, h, r, t):
        hv, tv = self.ent(h), self.ent(t)
        return mx.sum((hv[:, None, :] @ self.mats(r)).squeeze(1) * tv, axis=-1)

    def tail_scores(self, h, r):
        q = (self.ent(h)[:, None, :] @ self.mats(r)).squeeze(1)
        return q @ self.ent.weight.T

    def head_scores(self, r, t):
        q = (self.mats(r) @ self.ent(t)[:, :, None]).squeeze(-1)
        return q @ self.ent.weight.T


def corrupt(batch, gen):
    neg = np.repeat(batch, NEG, axis=0)
    which = gen.random(len(neg)) < 0.5
    rand = gen.integers(0, N_ENT, len(neg))
    neg[which, 0] = rand[which]
    neg[~which, 2] = rand[~which]
    return neg


def nll_parts(model, pos, neg):
    sp = model(pos[:, 0], pos[:, 1], pos[:, 2])
    sn = model(neg[:, 0], neg[:, 1], neg[:, 2]).reshape(-1, NEG)
    return mx.mean(nn.softplus(-sp)), mx.mean(nn.softplus(sn))


def loss_fn(model, pos, neg):
    lp, ln = nll_parts(model, pos, neg)
    reg = mx.mean(model.ent(pos[:, 0]) ** 2) + mx.mean(model.ent(pos[:, 2]) ** 2)
    return lp + ln + L2 * reg


def evaluate(model):
    h, r, t = (mx.array(test[:, i]) for i in range(3))
    st, sh = np.array(model.tail_scores(h, r)), np.array(model.head_scores(r, t))
    ranks = []
    for i, (hh, rr, tt) in enumerate(test):
        a = st[i].copy()
        a[[e for e in range(N_ENT) if e != tt and (hh, rr, e) in known]] = -np.inf
        ranks.append(1 + np.sum(a > a[tt]))
        b = sh[i].copy()
        b[[e for e in range(N_ENT) if e != hh and (e, rr, tt) in known]] = -np.inf
        ranks.append(1 + np.sum(b > b[hh]))
    ranks = np.array(ranks, dtype=np.float64)
    return ranks, float(np.mean(1 / ranks)), float(np.mean(ranks <= 3))


PROBE = train[np.random.default_rng(123).permutation(len(train))[:256]]
PROBE_NEG = corrupt(PROBE, np.random.default_rng(321))


def fit_loglik(model):
    lp, ln = nll_parts(model, mx.array(PROBE), mx.array(PROBE_NEG))
    return -(lp + ln).item()


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, LR, WARMUP),
         optim.cosine_decay(LR, EPOCHS * STEPS_PER_EPOCH - WARMUP, 1e-4)],
        [WARMUP])
    return optim.Adam(learning_rate=sched)


def run_epochs(model, opt, first, last, gen):
    step_fn = nn.value_and_grad(model, loss_fn)
    for ep in range(first, last + 1):
        tot = 0.0
        lr0 = opt.learning_rate.item()
        for _ in range(STEPS_PER_EPOCH):
            pos = train[gen.integers(0, len(train), BATCH)]
            loss, grads = step_fn(model, mx.array(pos), mx.array(corrupt(pos, gen)))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        _, mrr, h3 = evaluate(model)
        doc(epoch=ep, lr_at_start=f"{lr0:.5f}",
            train_objective=f"{tot / STEPS_PER_EPOCH:.4f}",
            fit_loglik_per_fact=f"{fit_loglik(model):.4f}",
            filtered={"mrr": f"{mrr:.4f}", "hits_at_3": f"{h3:.3f}"})


mx.random.seed(SEED)
model = Rescal(N_ENT, len(REL), DIM)
mx.eval(model.parameters())
opt = make_opt()

_, mrr0, h30 = evaluate(model)
doc(event="before_training", filtered={"mrr": f"{mrr0:.4f}", "hits_at_3": f"{h30:.3f}"},
    fit_loglik_per_fact=f"{fit_loglik(model):.4f}",
    random_ranking={"mrr": f"{np.mean([1 / k for k in range(1, N_ENT + 1)]):.4f}",
                    "hits_at_3": f"{3 / N_ENT:.3f}"})

# first step happens at learning rate 0
before = np.array(model.ent.weight)
step_fn = nn.value_and_grad(model, loss_fn)
pos = train[:BATCH]
loss, grads = step_fn(model, mx.array(pos), mx.array(corrupt(pos, np.random.default_rng(0))))
gnorm = {k: f"{float(mx.sqrt(mx.sum(v * v))):.4f}" for k, v in tree_flatten(grads)}
opt.update(model, grads)
mx.eval(model.parameters(), opt.state)
doc(event="first_step", grad_norms=gnorm,
    lr_used=f"{float(optim.linear_schedule(0.0, LR, WARMUP)(0)):.5f}",
    max_abs_entity_change=f"{np.abs(np.array(model.ent.weight) - before).max():.6f}")

run_epochs(model, opt, 1, STOP_AT, rng)

# ---------------------------------------------------------------- checkpoint
ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "adam.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as f:
    json.dump({"epoch": STOP_AT, "rng": rng.bit_generator.state}, f)
_, mrr_saved, _ = evaluate(model)
del model, opt
doc(event="checkpoint_written", directory=ckpt, files=sorted(os.listdir(ckpt)))

mx.random.seed(999)
model = Rescal(N_ENT, len(REL), DIM)
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt = make_opt()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "adam.safetensors")).items()))
with open(os.path.join(ckpt, "meta.json")) as f:
    meta = json.load(f)
rng2 = np.random.default_rng()
rng2.bit_generator.state = meta["rng"]
mx.eval(model.parameters(), opt.state)
_, mrr_loaded, _ = evaluate(model)
doc(event="resumed", from_epoch=meta["epoch"], optimizer_step=int(opt.state["step"].item()),
    mrr_saved=f"{mrr_saved:.4f}", mrr_loaded=f"{mrr_loaded:.4f}")

run_epochs(model, opt, meta["epoch"] + 1, EPOCHS, rng2)

ranks, mrr, h3 = evaluate(model)
per = {}
for i, (_, r, _) in enumerate(test):
    per.setdefault(REL[r], []).extend(ranks[2 * i:2 * i + 2])
doc(event="done", filtered={"mrr": f"{mrr:.4f}", "hits_at_3": f"{h3:.3f}"},
    per_relation_mrr={k: f"{np.mean(1 / np.array(v)):.3f} (n={len(v)})" for k, v in per.items()})
shutil.rmtree(ckpt)
