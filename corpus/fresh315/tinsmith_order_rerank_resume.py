"""Tinsmith's order book: a first-stage dual encoder shortlists 16 pattern-book
entries for each customer order, then a cross-scoring reranker (order and entry
read together) is trained listwise over the shortlist. The reranker run is
checkpointed at step 120, the process state is dropped, and training resumes
from the saved weights and optimizer state."""
import os
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)
N_ENTRY, N_TRAIN, LAT, K = 500, 400, 8, 16
z = rng.normal(size=(N_ENTRY, LAT))
A = rng.normal(size=(LAT, 24)) / np.sqrt(LAT)
Bm = rng.normal(size=(LAT, 16)) / np.sqrt(LAT)
entries = np.tanh(1.5 * z @ A) + 0.05 * rng.normal(size=(N_ENTRY, 24))


def orders_for(ids):
    zz = z[ids] + 0.35 * rng.normal(size=(len(ids), LAT))
    return np.tanh(1.5 * zz @ Bm) + 0.10 * rng.normal(size=(len(ids), 16))


tr_ids = np.repeat(np.arange(N_TRAIN), 6)
tr_q = orders_for(tr_ids)
ev_ids = np.repeat(np.arange(N_TRAIN, N_ENTRY), 4)
ev_q = orders_for(ev_ids)
E = mx.array(entries.astype(np.float32))


def mlp(d_in, d_out, h=64):
    return nn.Sequential(nn.Linear(d_in, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, d_out))


class BiEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.d = mlp(16, 24), mlp(24, 24)

    def embed(self, tower, x):
        e = tower(x)
        return e / mx.sqrt((e * e).sum(-1, keepdims=True) + 1e-12)


class Reranker(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = mlp(16 + 24 + 24 + 1, 1, h=96)
        self.mix = nn.Linear(16, 24, bias=False)

    def __call__(self, q, d, s1):        # q (B,16), d (B,K,24), s1 (B,K) first-stage cosine
        qb = mx.broadcast_to(q[:, None, :], (d.shape[0], d.shape[1], 16))
        inter = self.mix(qb) * d
        return self.net(mx.concatenate([qb, d, inter, 5.0 * s1[..., None]], axis=-1)).squeeze(-1)


def mrr_at(scores, gold_pos):
    """scores (N,K) over the shortlist; gold_pos = index of the true entry in it or -1."""
    order = np.argsort(-scores, axis=1)
    out = np.zeros(len(scores))
    for i, g in enumerate(gold_pos):
        if g >= 0:
            r = int(np.where(order[i] == g)[0][0])
            out[i] = 1.0 / (r + 1) if r < 10 else 0.0
    return out.mean()


# ---- stage 1: dual encoder, trained quietly -------------------------------
bi = BiEncoder()
mx.eval(bi.parameters())
opt1 = optim.Adam(learning_rate=2e-3)


def bi_loss(m, q, d):
    qe, de = m.embed(m.q, q), m.embed(m.d, d)
    return nn.losses.cross_entropy(qe @ de.T / 0.1, mx.arange(q.shape[0]), reduction="mean")


bi_step = nn.value_and_grad(bi, bi_loss)
t0 = time.time()
for step in range(500):
    b = rng.choice(len(tr_q), 128, replace=False)
    loss, g = bi_step(bi, mx.array(tr_q[b].astype(np.float32)), E[mx.array(tr_ids[b])])
    opt1.update(bi, g)
    mx.eval(bi.parameters(), opt1.state)
print(f"stage 1 dual encoder: 500 steps in {time.time() - t0:.1f}s, last in-batch loss {loss.item():.3f}")


def shortlist(qs, gold):
    qe = np.array(bi.embed(bi.q, mx.array(qs.astype(np.float32))))
    de = np.array(bi.embed(bi.d, E))
    sims = qe @ de.T
    top = np.argsort(-sims, axis=1)[:, :K]
    pos = np.array([int(np.where(t == g)[0][0]) if g in t else -1 for t, g in zip(top, gold)])
    return top, pos, sims


tr_top, tr_pos, tr_full = shortlist(tr_q, tr_ids)
ev_top, ev_pos, ev_full = shortlist(ev_q, ev_ids)
# training lists always contain the true entry: put it in the last slot when missing
miss = tr_pos < 0
tr_top[miss, -1] = tr_ids[miss]
tr_pos[miss] = K - 1
tr_s1 = mx.array(np.take_along_axis(tr_full, tr_top, axis=1).astype(np.float32))
ev_sims = np.take_along_axis(ev_full, ev_top, axis=1)
ev_s1 = mx.array(ev_sims.astype(np.float32))
first_stage = mrr_at(ev_sims, ev_pos)
print(f"held-out shortlist recall@{K} {np.mean(ev_pos >= 0):.3f} (ceiling)  first-stage MRR@10 {first_stage:.3f}")

# ---- stage 2: listwise reranker with checkpoint / resume --------------------
TOTAL, WARM, PEAK, CKPT = 240, 30, 1e-3, 120
sched = optim.join_schedules([optim.linear_schedule(0.0, PEAK, WARM),
                              optim.cosine_decay(PEAK, TOTAL - WARM, 1e-5)], [WARM])


def rr_loss(m, q, d, s1, pos):
    return nn.losses.cross_entropy(m(q, d, s1), pos, reduction="mean")


def rr_eval(m):
    s = np.array(m(mx.array(ev_q.astype(np.float32)), E[mx.array(ev_top)], ev_s1))
    return mrr_at(s, ev_pos)


def train(m, opt, start, stop):
    step_fn = nn.value_and_grad(m, rr_loss)
    for step in range(start, stop):
        b = rng.choice(len(tr_q), 64, replace=False)
        loss, g = step_fn(m, mx.array(tr_q[b].astype(np.float32)),
                          E[mx.array(tr_top[b])], tr_s1[mx.array(b)], mx.array(tr_pos[b]))
        opt.update(m, g)
        mx.eval(m.parameters(), opt.state)
        if (step + 1) % 20 == 0 or step == start:
            lr = sched(mx.array(step)).item()
            mrr = rr_eval(m)
            print(f"rerank step {step + 1:3d}  lr {lr:.2e}  listwise CE {loss.item():.4f}  "
                  f"MRR@10 {mrr:.3f}  vs first stage {mrr - first_stage:+.3f}")


ckdir = tempfile.mkdtemp(suffix="_tinsmith")
rr = Reranker()
mx.eval(rr.parameters())
opt2 = optim.AdamW(learning_rate=sched, weight_decay=0.01)
print(f"untrained reranker MRR@10 {rr_eval(rr):.3f}")
train(rr, opt2, 0, CKPT)
rr.save_weights(os.path.join(ckdir, "rerank.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt2.state)))
print(f"checkpoint written at step {CKPT}; dropping in-memory state")
del rr, opt2

rr = Reranker()
rr.load_weights(os.path.join(ckdir, "rerank.safetensors"))
opt2 = optim.AdamW(learning_rate=sched, weight_decay=0.01)
opt2.init(rr.trainable_parameters())
opt2.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
print(f"resumed at optimizer step {opt2.state['step'].item()}  MRR@10 {rr_eval(rr):.3f}")
train(rr, opt2, CKPT, TOTAL)
final = rr_eval(rr)
print(f"final reranked MRR@10 {final:.3f}  first stage {first_stage:.3f}  "
      f"ceiling recall@{K} {np.mean(ev_pos >= 0):.3f}")
