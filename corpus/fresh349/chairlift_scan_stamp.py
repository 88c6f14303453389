"""Ski-resort lift scans: predict the next lift in a skier's day from the scans so far.

STAMP (short-term attention / memory priority) session recommender: attention over
the session's lift embeddings driven by the last scan and the session mean, two
tanh MLP heads, trilinear score against the lift table.  SGD with Nesterov momentum
under cosine warm restarts (three cycles), gradient-norm clipping, compiled step.
"""
import json
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 3
N_LIFTS = 40          # ids 1..40, 0 = padding
MAXLEN = 10
D = 48
BATCH = 256
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ------------------------------------------------------------ synthetic scan logs
# lifts live in 4 sectors; each lift connects to a few neighbours (piste network);
# a skier's day has a preferred sector (set by the first two scans) that pulls moves.
sector = (np.arange(1, N_LIFTS + 1) - 1) // 10
links = {}
for lift in range(1, N_LIFTS + 1):
    nb = set()
    while len(nb) < 4:
        if rng.random() < 0.7:
            cand = 1 + sector[lift - 1] * 10 + rng.integers(10)
        else:
            cand = 1 + rng.integers(N_LIFTS)
        if cand != lift:
            nb.add(int(cand))
    links[lift] = sorted(nb)


def sample_session():
    length = int(rng.integers(4, 13))
    pref = int(rng.integers(4))
    s = [int(1 + pref * 10 + rng.integers(10))]
    for _ in range(length - 1):
        p = np.full(N_LIFTS, 0.03 / N_LIFTS)
        for j, nb in enumerate(links[s[-1]]):
            p[nb - 1] += [0.30, 0.22, 0.15, 0.10][j]
        p[pref * 10:(pref + 1) * 10] += 0.20 / 10
        if len(s) >= 2:
            p[s[-2] - 1] *= 0.3          # rarely straight back to the lift before
        p /= p.sum()
        s.append(int(1 + rng.choice(N_LIFTS, p=p)))
    return s


train_sessions = [sample_session() for _ in range(5000)]
test_sessions = [sample_session() for _ in range(800)]


def prefixes(sessions, last_only=False):
    xs, ys = [], []
    for s in sessions:
        ts = [len(s) - 1] if last_only else range(1, len(s))
        for t in ts:
            ctx = s[max(0, t - MAXLEN):t]
            xs.append([0] * (MAXLEN - len(ctx)) + ctx)
            ys.append(s[t] - 1)          # classes 0..39
    return np.array(xs, dtype=np.int32), np.array(ys, dtype=np.int32)


tr_x, tr_y = prefixes(train_sessions)
te_x, te_y = prefixes(test_sessions, last_only=True)

# count baselines: popularity, and "most common successor of the last lift"
pop = np.bincount(tr_y, minlength=N_LIFTS).astype(float)
succ = np.ones((N_LIFTS + 1, N_LIFTS))
for x, y in zip(tr_x, tr_y):
    succ[x[-1], y] += 1


def rank_metrics(scores, y, k=20):
    order = np.argsort(-scores, axis=1)[:, :k]
    hit = order == y[:, None]
    found = hit.any(axis=1)
    rank = hit.argmax(axis=1) + 1
    return 100 * found.mean(), np.where(found, 1.0 / rank, 0.0).mean()


pop_r, pop_m = rank_metrics(np.tile(pop, (len(te_y), 1)), te_y, k=5)
mk_r, mk_m = rank_metrics(succ[te_x[:, -1]], te_y, k=5)


class STAMP(nn.Module):
    def __init__(self, n_items, d=D):
        super().__init__()
        self.emb = nn.Embedding(n_items + 1, d)
        self.w1 = nn.Linear(d, d, bias=False)
        self.w2 = nn.Linear(d, d, bias=False)
        self.w3 = nn.Linear(d, d)
        self.w0 = nn.Linear(d, 1, bias=False)
        self.mlp_a = nn.Linear(d, d)
        self.mlp_b = nn.Linear(d, d)

    def __call__(self, x):
        mask = (x > 0).astype(mx.float32)[..., None]          # (B, T, 1)
        e = self.emb(x) * mask
        m_s = e.sum(axis=1) / mask.sum(axis=1)                 # session mean
        m_t = e[:, -1, :]                                      # last scan (left padded)
        a = self.w0(mx.sigmoid(self.w1(e) + self.w2(m_t)[:, None] + self.w3(m_s)[:, None]))
        m_a = (a * mask * e).sum(axis=1)
        h = mx.tanh(self.mlp_a(m_a)) * mx.tanh(self.mlp_b(m_t))
        return h @ self.emb.weight[1:].T                       # (B, n_items)


model = STAMP(N_LIFTS)
cycles = [150, 300, 600]
schedule = optim.join_schedules(
    [optim.cosine_decay(0.08, c, 0.002) for c in cycles],
    list(np.cumsum(cycles)[:-1]))
opt = optim.SGD(learning_rate=schedule, momentum=0.9, nesterov=True, weight_decay=1e-5)
TOTAL = sum(cycles)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    grads, norm = optim.clip_grad_norm(grads, max_norm=5.0)
    opt.update(model, grads)
    return loss, norm


def evaluate():
    logits = model(mx.array(te_x))
    ce = nn.losses.cross_entropy(logits, mx.array(te_y), reduction="mean").item()
    r, m = rank_metrics(np.array(logits), te_y, k=5)
    return ce, r, m


def emit(**kw):
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in kw.items()}),
          flush=True)


emit(event="data", train_prefixes=int(len(tr_y)), test_sessions=int(len(te_y)),
     lifts=N_LIFTS, cycles=cycles)
emit(event="baseline", name="popularity", recall_at_5_pct=float(pop_r), mrr_at_5=float(pop_m))
emit(event="baseline", name="last_lift_successor_counts", recall_at_5_pct=float(mk_r),
     mrr_at_5=float(mk_m))
ce0, r0, m0 = evaluate()
emit(event="untrained", test_ce=ce0, recall_at_5_pct=float(r0), mrr_at_5=float(m0))

tr_xm, tr_ym = mx.array(tr_x), mx.array(tr_y)
t0 = time.perf_counter()
win, boundaries = [], set(np.cumsum(cycles)[:-1].tolist())
it = 0
while it < TOTAL:
    perm = rng.permutation(len(tr_y))
    for b in range(0, len(perm) - BATCH + 1, BATCH):
        if it >= TOTAL:
            break
        idx = mx.array(perm[b:b + BATCH])
        loss, norm = step(tr_xm[idx], tr_ym[idx])
        mx.eval(state, loss, norm)
        win.append(loss.item())
        it += 1
        if it in boundaries:
            emit(event="warm_restart", step=it, lr_next=float(schedule(it).item()))
        if it % 75 == 0:
            ce, r, m = evaluate()
            emit(event="eval", step=it, lr=float(schedule(it - 1).item()),
                 train_ce_window=float(np.mean(win)), grad_norm=float(norm.item()),
                 test_ce=ce, recall_at_5_pct=float(r), mrr_at_5=float(m),
                 secs=round(time.perf_counter() - t0, 1))
            win = []

ce, r, m = evaluate()
emit(event="done", steps=it, test_ce=ce, recall_at_5_pct=float(r), mrr_at_5=float(m),
     successor_counts_mrr_at_5=float(mk_m))
