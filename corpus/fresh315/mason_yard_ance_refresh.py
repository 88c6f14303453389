"""Stone-yard order desk: match a mason's written request (20 readings) to the
yard's block register (30 readings). Dual encoder trained with InfoNCE; from
epoch 4 on, every 4th epoch, hard negatives are re-mined from a fresh index of the register
built with the current weights (ANCE-style refresh)."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)
N_DOC, N_TRAIN_DOC, LAT = 800, 640, 8
# blocks come in 40 quarry beds; blocks of one bed are near-duplicates
beds = rng.normal(size=(40, LAT))
z = beds[rng.integers(0, 40, N_DOC)] + 0.6 * rng.normal(size=(N_DOC, LAT))
A = rng.normal(size=(LAT, 30)) / np.sqrt(LAT)
B = rng.normal(size=(LAT, 20)) / np.sqrt(LAT)
C = rng.normal(size=(LAT, 30)) / np.sqrt(LAT)
docs = np.tanh(1.5 * (z @ A)) * np.cos(1.5 * (z @ C)) + 0.05 * rng.normal(size=(N_DOC, 30))

def make_queries(ids):
    zz = z[ids] + 0.12 * rng.normal(size=(len(ids), LAT))
    return np.tanh(zz @ B) + 0.10 * rng.normal(size=(len(ids), 20))

train_ids = np.repeat(np.arange(N_TRAIN_DOC), 4)
train_q = make_queries(train_ids)
eval_ids = np.repeat(np.arange(N_TRAIN_DOC, N_DOC), 3)     # blocks never asked about in training
eval_q = make_queries(eval_ids)
docs_mx = mx.array(docs.astype(np.float32))


class Tower(nn.Module):
    def __init__(self, d_in, d_hid=96, d_out=32):
        super().__init__()
        self.inp = nn.Linear(d_in, d_hid)
        self.mid = nn.Linear(d_hid, d_hid)
        self.norm = nn.LayerNorm(d_hid)
        self.out = nn.Linear(d_hid, d_out)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(self.norm(h)))
        e = self.out(h)
        return e / mx.sqrt(mx.sum(e * e, axis=-1, keepdims=True) + 1e-12)


class DualEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = Tower(20)
        self.d = Tower(30)


TAU, BATCH, EPOCHS, N_HARD, WARM, REFRESH = 0.07, 64, 16, 4, 60, 4
model = DualEncoder()
mx.eval(model.parameters())
steps_per_epoch = len(train_q) // BATCH
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), lambda s: mx.array(2e-3)], [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)


def loss_fn(m, q, pos, hard):
    qe = m.q(q)                                   # (B, 32)
    cand = mx.concatenate([pos, hard.reshape(-1, 30)], axis=0)
    ce = m.d(cand)                                # (B + B*N_HARD, 32)
    logits = (qe @ ce.T) / TAU
    labels = mx.arange(q.shape[0])
    return nn.losses.cross_entropy(logits, labels, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)


def retrieval_metrics(qe, de, gold):
    sims = np.array(qe @ de.T)
    order = np.argsort(-sims, axis=1)
    rank = np.argmax(order == gold[:, None], axis=1)
    return (rank == 0).mean(), (rank < 10).mean(), (1.0 / (rank + 1)).mean()


def evaluate():
    de = model.d(docs_mx)
    qe = model.q(mx.array(eval_q.astype(np.float32)))
    return retrieval_metrics(qe, de, eval_ids)


def mine_hard(k):
    """Fresh index of the training register with current weights; for every
    training request take the k highest-scoring blocks that are not its own."""
    de = np.array(model.d(docs_mx[:N_TRAIN_DOC]))
    qe = np.array(model.q(mx.array(train_q.astype(np.float32))))
    sims = qe @ de.T
    sims[np.arange(len(train_ids)), train_ids] = -np.inf
    return np.argsort(-sims, axis=1)[:, :k]


# closed-form baseline: least-squares linear map request -> register readings, cosine search
W, *_ = np.linalg.lstsq(np.c_[train_q, np.ones(len(train_q))], docs[train_ids], rcond=None)
pred = np.c_[eval_q, np.ones(len(eval_q))] @ W
pn = pred / np.linalg.norm(pred, axis=1, keepdims=True)
dn = docs / np.linalg.norm(docs, axis=1, keepdims=True)
b1, b10, bmrr = retrieval_metrics(pn, dn, eval_ids)
print(f"baseline lstsq-cosine  R@1 {b1:.3f}  R@10 {b10:.3f}  MRR {bmrr:.3f}")
r1, r10, mrr = evaluate()
print(f"epoch 0 (untrained)    R@1 {r1:.3f}  R@10 {r10:.3f}  MRR {mrr:.3f}")

t0 = time.time()
hard_idx = rng.integers(0, N_TRAIN_DOC, size=(len(train_ids), N_HARD))   # random negatives first
for epoch in range(1, EPOCHS + 1):
    source = "kept"
    if epoch == 1:
        source = "random"
    elif epoch % REFRESH == 0:
        hard_idx = mine_hard(N_HARD)
        source = "index refresh"
    perm = rng.permutation(len(train_q))
    tot, first = 0.0, None
    for s in range(steps_per_epoch):
        b = perm[s * BATCH:(s + 1) * BATCH]
        q = mx.array(train_q[b].astype(np.float32))
        pos = docs_mx[mx.array(train_ids[b])]
        hard = docs_mx[mx.array(hard_idx[b].reshape(-1))].reshape(len(b), N_HARD, 30)
        loss, grads = step_fn(model, q, pos, hard)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        first = loss.item() if first is None else first
    r1, r10, mrr = evaluate()
    lr = sched(mx.array(opt.state["step"])).item()
    print(f"epoch {epoch:2d} negatives={source:13s} loss first {first:.3f} mean {tot / steps_per_epoch:.4f}  "
          f"lr {lr:.2e}  R@1 {r1:.3f}  R@10 {r10:.3f}  MRR {mrr:.3f}")

print(f"done in {time.time() - t0:.1f}s; held-out MRR {mrr:.3f} vs baseline {bmrr:.3f}")
