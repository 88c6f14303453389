"""Stamp catalogue search with learned term impacts (no expansion).

Each catalogue entry is a short token sequence; a tiny conv encoder gives every
token an impact >= 0, and an entry's weight for a term is the max impact over
its occurrences. Query score = sum of entry impacts of the query's terms.
Objective is reported relative to chance: ce - ln(candidates), so 0 means
uniform guessing and the value goes negative as training works. About 20% of
training pairs carry a random target, so the objective settles on a floor.
Cosine schedule with three warm restarts; the run is checkpointed after the
second cycle and continued from freshly built objects.
"""
import math
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)

V, N_ENT, L, QL = 200, 800, 16, 4
N_FILL = 20                       # very common filler terms 0..19
MARK = V - 1                      # the "cat. no." marker printed before a key term
POOL = np.arange(N_FILL, MARK)
ent = np.zeros((N_ENT, L), dtype=np.int32)
key_terms = np.zeros((N_ENT, 2), dtype=np.int32)
for i in range(N_ENT):
    keys = rng.choice(POOL, 2, replace=False)
    key_terms[i] = keys
    units = [[MARK, k] for k in keys]
    units += [[t] for t in rng.choice(POOL, 5)]
    units += [[t] for t in rng.integers(0, N_FILL, L - 9)]
    order = rng.permutation(len(units))
    ent[i] = np.concatenate([units[j] for j in order])


def queries(n, noise):
    tgt = rng.integers(0, N_ENT, n)
    q = np.zeros((n, QL), dtype=np.int32)
    for k, i in enumerate(tgt):
        q[k, :2] = key_terms[i]
        q[k, 2:] = rng.choice(ent[i][np.isin(ent[i], np.arange(N_FILL))], 2)
    lab = tgt.copy()
    flip = rng.random(n) < noise
    lab[flip] = rng.integers(0, N_ENT, flip.sum())
    return q, lab, tgt


tr_q, tr_lab, _ = queries(4000, 0.2)
te_q, _, te_tgt = queries(300, 0.0)

# baselines: raw term-count overlap and tf-idf overlap
tf = np.zeros((N_ENT, V))
for i in range(N_ENT):
    np.add.at(tf[i], ent[i], 1.0)
idf = np.log((N_ENT + 1) / ((tf > 0).sum(0) + 1))
qoh = np.zeros((len(te_q), V))
for k in range(len(te_q)):
    np.add.at(qoh[k], te_q[k], 1.0)


def hit_at(scores, tgt, k):
    s_t = scores[np.arange(len(tgt)), tgt][:, None]
    return float(np.mean((scores >= s_t).sum(1) <= k))


base_tf = hit_at(qoh @ tf.T, te_tgt, 1)
base_tfidf = hit_at(qoh @ (tf * idf).T, te_tgt, 1)


class ImpactEncoder(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.emb = nn.Embedding(V, dim)
        self.conv = nn.Conv1d(dim, dim, kernel_size=3, padding=1)
        self.head = nn.Linear(dim, 1)

    def __call__(self, toks):
        h = self.emb(toks)
        h = h + nn.gelu(self.conv(h))
        imp = nn.softplus(self.head(h)).squeeze(-1)            # (B, L)
        onehot = (toks[:, :, None] == mx.arange(V)).astype(imp.dtype)
        return (onehot * imp[:, :, None]).max(axis=1)           # (B, V)


ent_mx = mx.array(ent)
CYCLE, CYCLES, PEAK, BATCH, NEG = 50, 3, 3e-3, 32, 32


def sgdr(step):
    t = step % CYCLE
    return 1e-5 + 0.5 * (PEAK - 1e-5) * (1 + math.cos(math.pi * t / CYCLE))


def loss_fn(model, q, lab, negs):
    cand = mx.concatenate([lab, negs])
    d = model(ent_mx[cand])                                      # (B+NEG, V)
    qv = (q[:, :, None] == mx.arange(V)).astype(d.dtype).sum(1)
    s = qv @ d.T
    ce = nn.losses.cross_entropy(s, mx.arange(q.shape[0]), reduction="mean")
    return ce - math.log(BATCH + NEG)


def evaluate(model):
    d = model(ent_mx)
    s = np.array(mx.array(qoh.astype(np.float32)) @ d.T)
    return hit_at(s, te_tgt, 1)


def build(seed):
    mx.random.seed(seed)
    m = ImpactEncoder()
    o = optim.Adam(learning_rate=PEAK)
    mx.eval(m.parameters())
    return m, o


def run_cycles(model, opt, first, last):
    gfn = nn.value_and_grad(model, loss_fn)
    for step in range(first * CYCLE, last * CYCLE):
        opt.learning_rate = sgdr(step)
        idx = rng.integers(0, len(tr_q), BATCH)
        loss, g = gfn(model, mx.array(tr_q[idx]), mx.array(tr_lab[idx]),
                      mx.array(rng.integers(0, N_ENT, NEG)))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if step % CYCLE in (0, 1, CYCLE // 2, CYCLE - 1):
            print(f"cycle {step // CYCLE + 1} step {step:4d} lr {sgdr(step):.2e} "
                  f"objective(vs chance) {loss.item():+.3f}", flush=True)
        if step % CYCLE == CYCLE - 1:
            print(f"  end of cycle {step // CYCLE + 1}: hit@1 {evaluate(model):.3f} "
                  f"(tf {base_tf:.3f}, tf-idf {base_tfidf:.3f})", flush=True)


print(f"entries {N_ENT}, vocab {V}, noisy train pairs ~20%; chance objective 0.000, "
      f"floor from noise > 0 nats above perfect", flush=True)
model, opt = build(11)
print(f"initial hit@1 {evaluate(model):.3f}  tf {base_tf:.3f}  tf-idf {base_tfidf:.3f}")
run_cycles(model, opt, 0, 2)

ckpt = tempfile.mkdtemp()
mx.save_safetensors(os.path.join(ckpt, "model.safetensors"), dict(tree_flatten(model.parameters())))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
before = evaluate(model)
del model, opt

model, opt = build(99)                       # different init, then overwritten
model.load_weights(os.path.join(ckpt, "model.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
after = evaluate(model)
print(f"checkpoint reload: hit@1 before {before:.3f} after {after:.3f} "
      f"step counter {int(opt.state['step'].item())}", flush=True)
run_cycles(model, opt, 2, CYCLES)
final = evaluate(model)
print(f"final hit@1 {final:.3f}  tf overlap {base_tf:.3f}  tf-idf {base_tfidf:.3f}")
