# Ship's stores desk: rerank 8 catalogue candidates for each bosun's
# requisition line with a small cross-encoder.
# Stage 1 = pointwise BCE, stage 2 = listwise softmax over the 8 candidates.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)
N_TOPICS, LAT, DIM, CANDS = 120, 8, 24, 8

topic_lat = rng.normal(size=(N_TOPICS, LAT)).astype(np.float32)
# "neighbour" topic of each topic: source of hard negatives
nbr = np.argsort(((topic_lat[:, None] - topic_lat[None]) ** 2).sum(-1), axis=1)[:, 1]
A_q = rng.normal(size=(LAT, DIM)).astype(np.float32) / math.sqrt(LAT)
A_d = (0.5 * A_q + 0.85 * rng.normal(size=(LAT, DIM)) / math.sqrt(LAT)).astype(np.float32)


def make_split(n_queries):
    t = rng.integers(0, N_TOPICS, size=n_queries)
    q = np.tanh((topic_lat[t] + 0.35 * rng.normal(size=(n_queries, LAT))) @ A_q)
    q += 0.1 * rng.normal(size=q.shape)
    cand_topics = np.empty((n_queries, CANDS), dtype=np.int64)
    cand_topics[:, 0] = t
    cand_topics[:, 1:3] = nbr[t][:, None]            # hard negatives
    cand_topics[:, 3:] = rng.integers(0, N_TOPICS, size=(n_queries, CANDS - 3))
    cl = topic_lat[cand_topics] + 0.35 * rng.normal(size=(n_queries, CANDS, LAT))
    d = np.tanh(cl @ A_d) + 0.1 * rng.normal(size=(n_queries, CANDS, DIM))
    labels = (cand_topics == t[:, None]).astype(np.float32)
    perm = np.argsort(rng.random((n_queries, CANDS)), axis=1)   # shuffle slots
    d = np.take_along_axis(d, perm[..., None], axis=1)
    labels = np.take_along_axis(labels, perm, axis=1)
    return (mx.array(q.astype(np.float32)), mx.array(d.astype(np.float32)),
            mx.array(labels))


q_tr, d_tr, y_tr = make_split(3000)
q_te, d_te, y_te = make_split(600)


class CrossEncoder(nn.Module):
    def __init__(self, dim, hidden=64):
        super().__init__()
        self.proj_q = nn.Linear(dim, hidden)
        self.proj_d = nn.Linear(dim, hidden)
        self.mix = nn.Sequential(nn.GELU(), nn.Linear(3 * hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, 1))

    def __call__(self, q, d):
        # q: (B, D), d: (B, C, D) -> scores (B, C)
        hq = mx.broadcast_to(self.proj_q(q)[:, None, :], d.shape[:2] + (self.proj_q.weight.shape[0],))
        hd = self.proj_d(d)
        joint = mx.concatenate([hq, hd, hq * hd], axis=-1)
        return self.mix(joint).squeeze(-1)


def pointwise_loss(model, q, d, y):
    s = model(q, d)
    return nn.losses.binary_cross_entropy(s, y, with_logits=True, reduction="mean")


def listwise_loss(model, q, d, y):
    s = model(q, d)
    target = mx.argmax(y, axis=1)
    return nn.losses.cross_entropy(s, target, reduction="mean")


def mrr(scores, y):
    pos = mx.argmax(y, axis=1)
    pos_score = mx.take_along_axis(scores, pos[:, None], axis=1)
    rank = 1 + mx.sum(scores > pos_score, axis=1)
    return mx.mean(1.0 / rank).item()


# baselines on the held-out split
lex = mx.sum(q_te[:, None, :] * d_te, axis=-1) / (
    mx.linalg.norm(q_te, axis=-1)[:, None] * mx.linalg.norm(d_te, axis=-1) + 1e-6)
lex_mrr = mrr(lex, y_te)
rand_mrr = sum(1.0 / k for k in range(1, CANDS + 1)) / CANDS

model = CrossEncoder(DIM)
mx.eval(model.parameters())
STEPS, STAGE2, WARM, BS = 500, 250, 80, 64
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 1e-5)],
    [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)

step_pw = nn.value_and_grad(model, pointwise_loss)
step_lw = nn.value_and_grad(model, listwise_loss)

print(f"train queries {q_tr.shape[0]}, held-out {q_te.shape[0]}, {CANDS} candidates each")
print(f"baselines on held-out: random MRR {rand_mrr:.3f} | lexical cosine MRR {lex_mrr:.3f}")
print("stage 1: pointwise BCE")
t0 = time.time()
order = np.arange(q_tr.shape[0])
ptr = len(order)
run = []
for step in range(STEPS):
    if ptr + BS > len(order):
        rng.shuffle(order)
        ptr = 0
    idx = mx.array(order[ptr:ptr + BS])
    ptr += BS
    if step == STAGE2:
        print(f"stage 2 from step {step}: listwise softmax over {CANDS} candidates "
              f"(loss scale changes: log({CANDS}) = {math.log(CANDS):.3f} for a uniform scorer)")
    fn = step_pw if step < STAGE2 else step_lw
    lr_now = sched(opt.step).item()
    loss, grads = fn(model, q_tr[idx], d_tr[idx], y_tr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run.append(loss.item())
    if step % 50 == 0 or step == STEPS - 1:
        print(f"step {step:4d}  lr {lr_now:.2e}  loss {np.mean(run[-50:]):.4f}")
    if (step + 1) % 100 == 0:
        te = mrr(model(q_te, d_te), y_te)
        print(f"  eval step {step + 1}: held-out MRR {te:.3f} (lexical {lex_mrr:.3f}, random {rand_mrr:.3f})")

final = mrr(model(q_te, d_te), y_te)
top1 = mx.mean(mx.argmax(model(q_te, d_te), axis=1) == mx.argmax(y_te, axis=1)).item()
print(f"final held-out MRR {final:.3f}  top-1 {top1:.3f}  lexical MRR {lex_mrr:.3f}  "
      f"time {time.time() - t0:.1f}s")
