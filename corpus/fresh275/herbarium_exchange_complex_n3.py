"""Herbarium exchange graph: which sheet goes with which?

Synthetic graph of 240 herbarium sheets held by 12 institutions (20 sheets each).
Five relations (duplicate_sent_to, same_collector_as, annotated_after, mounted_with,
cited_beside) follow hidden institution-to-institution maps plus a slot shift.
ComplEx embeddings, reciprocal relations, 1-vs-all cross-entropy, N3 regulariser,
Adagrad.  Stage 1 warms the learning rate up from exactly 0; a checkpoint is written
and read back into a fresh model/optimizer; stage 2 turns the N3 weight up.
"""
import os
import shutil
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(7)
rng = np.random.default_rng(7)

N_INST, PER = 12, 20
N_ENT = N_INST * PER
REL_NAMES = ["duplicate_sent_to", "same_collector_as", "annotated_after",
             "mounted_with", "cited_beside"]
N_REL = len(REL_NAMES)

# hidden maps: institution permutation + slot shift, some relations have 2 tails
perms = [rng.permutation(N_INST) for _ in range(N_REL)]
shifts = rng.integers(0, PER, size=N_REL)
two_tails = [False, True, False, True, False]

triples = []
for r in range(N_REL):
    for g in range(N_INST):
        for i in range(PER):
            h = g * PER + i
            tg = perms[r][g]
            t = tg * PER + (i + shifts[r]) % PER
            triples.append((h, r, t))
            if two_tails[r]:
                t2 = tg * PER + (i + shifts[r] + 1) % PER
                triples.append((h, r, t2))
triples = np.array(triples, dtype=np.int32)
rng.shuffle(triples)
n_test = len(triples) // 10
test, train = triples[:n_test], triples[n_test:]
print(f"sheets={N_ENT} relations={N_REL} triples train={len(train)} test={len(test)}")

# every true tail for (h, r) and every true head for (t, r^-1): used for filtered ranks
known = {}
for h, r, t in triples:
    known.setdefault((int(h), int(r)), set()).add(int(t))
    known.setdefault((int(t), int(r) + N_REL), set()).add(int(h))

# reciprocal training queries: (h, r) -> t and (t, r + N_REL) -> h
q_src = np.concatenate([train[:, 0], train[:, 2]])
q_rel = np.concatenate([train[:, 1], train[:, 1] + N_REL])
q_dst = np.concatenate([train[:, 2], train[:, 0]])


class ComplEx(nn.Module):
    def __init__(self, n_ent, n_rel, dim, init_scale=1e-2):
        super().__init__()
        self.dim = dim
        self.ent = nn.Embedding(n_ent, 2 * dim)
        self.rel = nn.Embedding(n_rel, 2 * dim)
        self.ent.weight = self.ent.weight * init_scale
        self.rel.weight = self.rel.weight * init_scale

    def split(self, x):
        return x[..., : self.dim], x[..., self.dim:]

    def __call__(self, src, rel):
        s_re, s_im = self.split(self.ent(src))
        r_re, r_im = self.split(self.rel(rel))
        a_re = s_re * r_re - s_im * r_im
        a_im = s_re * r_im + s_im * r_re
        e_re, e_im = self.split(self.ent.weight)
        scores = a_re @ e_re.T + a_im @ e_im.T
        return scores, (s_re, s_im, r_re, r_im)


def n3_of(model, src, rel, dst, factors):
    s_re, s_im, r_re, r_im = factors
    d_re, d_im = model.split(model.ent(dst))
    mod = lambda a, b: mx.sqrt(a * a + b * b + 1e-12)
    return (mx.sum(mod(s_re, s_im) ** 3) + mx.sum(mod(r_re, r_im) ** 3)
            + mx.sum(mod(d_re, d_im) ** 3)) / src.shape[0]


def loss_fn(model, src, rel, dst, n3_weight):
    scores, factors = model(src, rel)
    fit = mx.mean(nn.losses.cross_entropy(scores, dst))
    reg = n3_of(model, src, rel, dst, factors)
    return fit + n3_weight * reg, (fit, reg)


def filtered_ranks(model, rows, reverse=False):
    src = rows[:, 2] if reverse else rows[:, 0]
    dst = rows[:, 0] if reverse else rows[:, 2]
    rel = rows[:, 1] + (N_REL if reverse else 0)
    scores, _ = model(mx.array(src), mx.array(rel))
    scores = np.array(scores)
    ranks = []
    for k in range(len(rows)):
        s = scores[k].copy()
        target = s[dst[k]]
        for other in known[(int(src[k]), int(rel[k]))]:
            if other != dst[k]:
                s[other] = -np.inf
        ranks.append(1 + int(np.sum(s > target)))
    return np.array(ranks)


def evaluate(model):
    ranks = np.concatenate([filtered_ranks(model, test), filtered_ranks(model, test, True)])
    return float(np.mean(1.0 / ranks)), float(np.mean(ranks <= 10))


def baselines():
    # random ranking and "most-cited sheet first" popularity ranking
    rand_mrr = float(np.mean(1.0 / rng.integers(1, N_ENT + 1, size=20000)))
    pop = np.bincount(np.concatenate([train[:, 0], train[:, 2]]), minlength=N_ENT)
    order = np.argsort(-pop, kind="stable")
    pos = np.empty(N_ENT, dtype=np.int64)
    pos[order] = np.arange(1, N_ENT + 1)
    pop_ranks = np.concatenate([pos[test[:, 2]], pos[test[:, 0]]])
    return rand_mrr, float(np.mean(1.0 / pop_ranks))


rand_mrr, pop_mrr = baselines()
print(f"baseline MRR: random={rand_mrr:.3f} popularity={pop_mrr:.3f}")

DIM, BATCH = 48, 128
BASE_LR, WARM = 0.15, 40


def lr_at(step):
    return BASE_LR * min(1.0, step / WARM)


def run_stage(model, opt, step, epochs, n3_weight, tag):
    step_fn = nn.value_and_grad(model, loss_fn)
    n_q = len(q_src)
    for ep in range(epochs):
        order = rng.permutation(n_q)
        tot = fit_tot = reg_tot = 0.0
        nb = 0
        for b in range(0, n_q, BATCH):
            idx = order[b: b + BATCH]
            opt.learning_rate = lr_at(step)
            (loss, (fit, reg)), grads = step_fn(
                model, mx.array(q_src[idx]), mx.array(q_rel[idx]), mx.array(q_dst[idx]), n3_weight)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item(); fit_tot += fit.item(); reg_tot += reg.item(); nb += 1
            step += 1
        if ep % 5 == 4 or ep == epochs - 1:
            mrr, h10 = evaluate(model)
            print(f"[{tag}] epoch {ep + 1:3d} step {step:5d} lr {lr_at(step):.3f} "
                  f"loss {tot / nb:.4f} (ce {fit_tot / nb:.4f} n3 {reg_tot / nb:.4f} x{n3_weight:g}) "
                  f"test MRR {mrr:.3f} Hits@10 {h10:.3f}")
    return step


model = ComplEx(N_ENT, 2 * N_REL, DIM)
opt = optim.Adagrad(learning_rate=0.0)
mx.eval(model.parameters())

# step 0 runs with lr exactly 0: parameters must not move
before = np.array(model.ent.weight)
step_fn0 = nn.value_and_grad(model, loss_fn)
(l0, _), g0 = step_fn0(model, mx.array(q_src[:BATCH]), mx.array(q_rel[:BATCH]),
                       mx.array(q_dst[:BATCH]), 5e-3)
opt.learning_rate = lr_at(0)
opt.update(model, g0)
mx.eval(model.parameters(), opt.state)
print(f"warm-up step 0: lr={lr_at(0):.3f} loss={l0.item():.4f} "
      f"max|d ent|={np.abs(np.array(model.ent.weight) - before).max():.2e}")
step = 1

step = run_stage(model, opt, step, 30, 5e-3, "stage1")
mrr1, _ = evaluate(model)

# checkpoint: weights + optimizer state + step, then load into fresh objects
ckpt_dir = tempfile.mkdtemp(prefix="herbarium_ckpt_")
w_path = os.path.join(ckpt_dir, "model.safetensors")
s_path = os.path.join(ckpt_dir, "opt.safetensors")
model.save_weights(w_path)
mx.save_safetensors(s_path, dict(tree_flatten(opt.state)), metadata={"step": str(step)})

model = ComplEx(N_ENT, 2 * N_REL, DIM)
model.load_weights(w_path)
opt = optim.Adagrad(learning_rate=lr_at(step))
state, meta = mx.load(s_path, return_metadata=True)
opt.state = tree_unflatten(list(state.items()))
step = int(meta["step"])
mx.eval(model.parameters(), opt.state)
shutil.rmtree(ckpt_dir)
mrr_r, _ = evaluate(model)
print(f"resumed from {os.path.basename(ckpt_dir)} at step {step}: MRR {mrr_r:.3f} (saved {mrr1:.3f})")

# stage 2: stronger N3 weight; the total loss goes up because the penalty is 8x heavier
step = run_stage(model, opt, step, 15, 4e-2, "stage2")

mrr, h10 = evaluate(model)
print(f"final: test MRR {mrr:.3f} Hits@10 {h10:.3f} | random {rand_mrr:.3f} popularity {pop_mrr:.3f}")
