"""Saddlery order desk: sparse lexical-expansion retrieval.

Riders write requests in their own words (half trade terms, half stable slang);
the shop's parts list uses trade terms only. Each tower maps a bag of tokens to
non-negative weights over the 200 trade terms, w = max over tokens of
log1p(relu(.)), and the score
is a plain dot product, so the learned representation stays an inverted-index
friendly sparse vector. Training loss = in-batch InfoNCE + lambda(t) * FLOPS,
with lambda ramped up quadratically over the first 60% of steps: the
regulariser's share of the total grows while the ramp runs, so the total can
rise between logs even as retrieval improves, and the number of active terms
per vector shrinks. Halfway through, the run is checkpointed to
disk and resumed into fresh objects.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SEED = 5
TERMS = 200
VOCAB = 2 * TERMS
PAD = VOCAB
MAXLEN = 8
HID = 64
BATCH = 64
STEPS = 240
LAMBDA_MAX = 3e-2
RAMP = int(0.6 * STEPS)


def make_pairs(rng, n):
    qs, ds = [], []
    for _ in range(n):
        k = int(rng.integers(4, 8))
        terms = rng.choice(TERMS, size=k, replace=False)
        ds.append([int(t) for t in terms])
        used = rng.choice(terms, size=int(rng.integers(3, k + 1)), replace=False)
        qs.append([int(t) + TERMS if rng.random() < 0.5 else int(t) for t in used])
    return qs, ds


def pad(seqs):
    out = np.full((len(seqs), MAXLEN), PAD, dtype=np.int32)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s[:MAXLEN]
    return mx.array(out)


class Expander(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB + 1, HID)
        self.hidden = nn.Linear(HID, HID)
        self.out = nn.Linear(HID, TERMS)

    def __call__(self, ids):
        # per-token term weights, max-pooled over the real tokens
        mask = (ids != PAD).astype(mx.float32)[..., None]
        w = mx.log1p(nn.relu(self.out(nn.gelu(self.hidden(self.embed(ids))))))
        return (w * mask).max(axis=1)


class SparseRetriever(nn.Module):
    def __init__(self):
        super().__init__()
        self.query = Expander()
        self.doc = Expander()


def flops(w):
    return (w.mean(axis=0) ** 2).sum()


def loss_fn(model, q, d, lam):
    wq, wd = model.query(q), model.doc(d)
    scores = wq @ wd.T
    labels = mx.arange(q.shape[0])
    rank = nn.losses.cross_entropy(scores, labels, reduction="mean")
    reg = flops(wq) + flops(wd)
    return rank + lam * reg, (rank, reg)


def lam_at(step):
    return LAMBDA_MAX * min(1.0, step / RAMP) ** 2


def evaluate(model, qs, ds):
    wq, wd = model.query(pad(qs)), model.doc(pad(ds))
    top = mx.argsort(-(wq @ wd.T), axis=1)[:, :10]
    tgt = mx.arange(len(qs))[:, None]
    r1 = (top[:, :1] == tgt).any(axis=1).astype(mx.float32).mean().item()
    r10 = (top == tgt).any(axis=1).astype(mx.float32).mean().item()
    active_q = (wq > 0).sum(axis=1).astype(mx.float32).mean().item()
    active_d = (wd > 0).sum(axis=1).astype(mx.float32).mean().item()
    return r1, r10, active_q, active_d


def lexical(qs, ds):
    dsets = [set(d) for d in ds]
    hit1 = hit10 = 0
    for i, q in enumerate(qs):
        sc = np.array([len(set(q) & d) for d in dsets])
        order = np.argsort(-sc, kind="stable")
        hit1 += order[0] == i
        hit10 += i in order[:10]
    return hit1 / len(qs), hit10 / len(qs)


def build(lr_sched):
    model = SparseRetriever()
    opt = optim.Adam(learning_rate=lr_sched)
    return model, opt


def save_ckpt(path, model, opt, step):
    mx.save_safetensors(path + ".model.safetensors", dict(tree_flatten(model.parameters())))
    mx.save_safetensors(path + ".opt.safetensors", dict(tree_flatten(opt.state)))
    with open(path + ".step", "w") as f:
        f.write(str(step))


def load_ckpt(path, model, opt):
    model.load_weights(path + ".model.safetensors")
    opt.state = tree_unflatten(list(mx.load(path + ".opt.safetensors").items()))
    with open(path + ".step") as f:
        return int(f.read())


def main():
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    tr_q, tr_d = make_pairs(rng, 8000)
    te_q, te_d = make_pairs(rng, 800)
    sched = optim.join_schedules(
        [optim.linear_schedule(1e-4, 3e-3, 20), optim.cosine_decay(3e-3, STEPS - 20, 3e-4)], [20])
    model, opt = build(sched)
    mx.eval(model.parameters())
    b1, b10 = lexical(te_q, te_d)
    print(f"exact-term baseline: R@1 {b1:.3f}  R@10 {b10:.3f}")

    ckpt = os.path.join(tempfile.mkdtemp(), "saddlery_run")
    step_fn = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    step = 0
    while step < STEPS:
        step += 1
        idx = rng.choice(len(tr_q), size=BATCH, replace=False)
        q = pad([tr_q[i] for i in idx])
        d = pad([tr_d[i] for i in idx])
        lam = lam_at(step)
        (total, (rank, reg)), grads = step_fn(model, q, d, lam)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, total)
        if step % 20 == 0:
            print(f"step {step:3d}  lambda {lam:.2e}  rank {rank.item():.4f}  "
                  f"flops {reg.item():8.3f}  total {total.item():.4f}")
        if step % 60 == 0:
            r1, r10, aq, ad = evaluate(model, te_q, te_d)
            print(f"  eval: R@1 {r1:.3f}  R@10 {r10:.3f}  active terms q {aq:.1f} d {ad:.1f} / {TERMS}")
        if step == STEPS // 2:
            save_ckpt(ckpt, model, opt, step)
            model, opt = build(sched)
            step = load_ckpt(ckpt, model, opt)
            mx.eval(model.parameters())
            step_fn = nn.value_and_grad(model, loss_fn)
            print(f"  resumed from checkpoint at step {step}")
    print(f"finished {step} steps in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
