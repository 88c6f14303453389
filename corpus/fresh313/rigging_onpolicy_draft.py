"""On-policy draft distillation for a rigging-loft knot-notation language.

A GRU "target" is fitted on synthetic nested knot-notation strings (two kinds
of bracket plus a filler mark) and then frozen.  A much smaller GRU draft is
trained in rounds: each round samples fresh strings from the draft itself,
scores every position with the target, and lowers the total-variation distance
between the two next-token distributions (the speculative-sampling rejection
rate).  The objective printed is minus the expected acceptance, so it is
negative and lower is better.
"""
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

OPEN_A, OPEN_B, CLOSE_A, CLOSE_B, FILL, BOS = range(6)
NV, LEN = 5, 20
rng = np.random.default_rng(11)
mx.random.seed(11)
COLS = ["kind", "round", "step", "lr", "objective", "accept_exp", "accept_sim",
        "accept_uniform", "accept_unigram", "note"]


def row(**kw):
    vals = []
    for c in COLS:
        v = kw.get(c, "-")
        vals.append(f"{v:.4f}" if isinstance(v, float) else str(v))
    print("\t".join(vals))
    sys.stdout.flush()


def make_strings(n):
    out = np.zeros((n, LEN + 1), dtype=np.int32)
    out[:, 0] = BOS
    for i in range(n):
        stack = []
        for t in range(1, LEN + 1):
            r = rng.random()
            if stack and r < 0.38:
                out[i, t] = CLOSE_A if stack.pop() == OPEN_A else CLOSE_B
            elif len(stack) < 4 and r < 0.75:
                o = OPEN_A if rng.random() < 0.6 else OPEN_B
                stack.append(o)
                out[i, t] = o
            else:
                out[i, t] = FILL
    return out


class GruLM(nn.Module):
    def __init__(self, emb, hid):
        super().__init__()
        self.emb = nn.Embedding(6, emb)
        self.rnn = nn.GRU(emb, hid)
        self.out = nn.Linear(hid, NV)

    def __call__(self, toks, hidden=None):
        h = self.rnn(self.emb(toks), hidden)
        return self.out(h), h


def ce_loss(m, x, y):
    return nn.losses.cross_entropy(m(x)[0], y, reduction="mean")


# ---------- target ----------
data = make_strings(2400)
target = GruLM(16, 48)
t_opt = optim.Adam(learning_rate=4e-3)
t_step = nn.value_and_grad(target, ce_loss)
for it in range(1, 301):
    b = mx.array(data[rng.integers(0, len(data), 32)])
    loss, g = t_step(target, b[:, :-1], b[:, 1:])
    t_opt.update(target, g)
    mx.eval(target.parameters(), t_opt.state)
    if it % 100 == 0:
        row(kind="target", step=it, objective=loss.item(), note="cross_entropy_nats")
target.freeze()
t_params_before = [np.array(v) for _, v in tree_flatten(target.parameters())]


def sample(model, n, temp=1.0):
    toks = mx.full((n, 1), BOS, dtype=mx.int32)
    hidden = None
    seq = [toks]
    for _ in range(LEN):
        logits, h = model(toks, hidden)
        hidden = h[:, -1]
        toks = mx.random.categorical(logits[:, -1] / temp)[:, None].astype(mx.int32)
        seq.append(toks)
    out = mx.concatenate(seq, axis=1)
    mx.eval(out)
    return out


def probs(model, seqs):
    return mx.softmax(model(seqs[:, :-1])[0], axis=-1)


# reference drafts: uniform, and unigram frequencies of the target's own samples
ref = sample(target, 512)
uni = np.bincount(np.array(ref[:, 1:]).ravel(), minlength=NV) / ref[:, 1:].size


def expected_accept(q_fn, seqs):
    p = probs(target, seqs)
    q = q_fn(seqs)
    return mx.minimum(p, q).sum(axis=-1).mean().item()


def simulated_accept(model, seqs):
    # speculative sampling: draw from q, keep with probability min(1, p/q)
    p = probs(target, seqs)
    q = probs(model, seqs)
    draw = mx.random.categorical(mx.log(q + 1e-12))
    pq = mx.take_along_axis(p, draw[..., None], axis=-1)[..., 0]
    qq = mx.take_along_axis(q, draw[..., None], axis=-1)[..., 0]
    keep = mx.random.uniform(shape=pq.shape) < mx.minimum(1.0, pq / qq)
    return keep.astype(mx.float32).mean().item()


acc_uniform = expected_accept(lambda s: mx.full((s.shape[0], s.shape[1] - 1, NV), 1.0 / NV), ref)
uni_arr = mx.array(uni.astype(np.float32))
acc_unigram = expected_accept(lambda s: mx.broadcast_to(uni_arr, (s.shape[0], s.shape[1] - 1, NV)), ref)
acc_self = expected_accept(lambda s: probs(target, s), ref)
row(kind="reference", accept_exp=acc_self, accept_uniform=acc_uniform, accept_unigram=acc_unigram,
    note="target_vs_itself")

# ---------- draft, on-policy rounds ----------
draft = GruLM(8, 12)
ROUNDS, PER_ROUND = 6, 60
sched = optim.step_decay(3e-3, 0.6, 120)
opt = optim.RMSprop(learning_rate=sched, alpha=0.95)


def tvd_objective(model, seqs, p):
    q = mx.softmax(model(seqs[:, :-1])[0], axis=-1)
    tvd = 0.5 * mx.abs(p - q).sum(axis=-1).mean()
    return tvd - 1.0  # = minus expected acceptance


d_step = nn.value_and_grad(draft, tvd_objective)
step = 0
for rnd in range(1, ROUNDS + 1):
    pool = sample(draft, 256)
    p_pool = mx.stop_gradient(probs(target, pool))
    before = expected_accept(lambda s: probs(draft, s), pool)
    for k in range(PER_ROUND):
        idx = mx.array(rng.integers(0, 256, 64))
        obj, grads = d_step(draft, pool[idx], p_pool[idx])
        if step == 0:
            leaves = tree_flatten(grads)
            nz = sum(int(mx.any(v != 0).item()) for _, v in leaves)
            row(kind="audit", round=rnd, step=step, note=f"nonzero_grad_leaves={nz}/{len(leaves)}")
        opt.update(draft, grads)
        mx.eval(draft.parameters(), opt.state)
        step += 1
        if rnd > 1 and k % 30 == 29:
            row(kind="step", round=rnd, step=step, lr=float(opt.learning_rate.item()),
                objective=obj.item())
    fresh = sample(draft, 256)
    row(kind="round", round=rnd, step=step, lr=float(opt.learning_rate.item()),
        objective=-expected_accept(lambda s: probs(draft, s), fresh),
        accept_exp=expected_accept(lambda s: probs(draft, s), fresh),
        accept_sim=simulated_accept(draft, fresh), accept_uniform=acc_uniform,
        accept_unigram=acc_unigram, note=f"pool_accept_before={before:.4f}")

drift = max(float(np.abs(np.array(v) - b).max())
            for (_, v), b in zip(tree_flatten(target.parameters()), t_params_before))
final = sample(draft, 512)
row(kind="final", round=ROUNDS, step=step, accept_exp=expected_accept(lambda s: probs(draft, s), final),
    accept_sim=simulated_accept(draft, final), accept_uniform=acc_uniform,
    accept_unigram=acc_unigram, note=f"target_drift={drift:.1e}")
