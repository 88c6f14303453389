"""Library circulation-desk chat SFT.

Each conversation renews 1-3 books.  For a book code (two letters a-e) the
assistant answers  "due <weekday> ticket <digit> <eot>".  The weekday is a
deterministic function of the code; the ticket digit is drawn at random, so the
assistant-token loss cannot go below ln(10)/5 per token.

Right-padded rows are bucketed by length under a token budget (batch size
varies), attention uses ALiBi biases, and the optimizer is SGD with Nesterov
momentum under cosine warm restarts (cycles of 80, 160 and 320 steps).
Logs are quiet: one line per cycle end plus a few checkpoints.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

PAD, BOS, USR, AST, EOT = 0, 1, 2, 3, 4
LET = 5            # letters a-e -> 5..9
DAY = 10           # weekdays -> 10..16
NUM = 17           # ticket digits -> 17..26
RENEW, DUE, TICKET = 27, 28, 29
V = 30

rng = np.random.default_rng(11)
mx.random.seed(11)


def weekday(a, b):
    return (3 * a + b + (a * b) % 2) % 7


def make_conv(r):
    toks, lab = [BOS], [0]
    for _ in range(r.integers(1, 4)):
        a, b = r.integers(0, 5, size=2)
        user = [USR, RENEW, LET + a, LET + b, EOT]
        asst = [AST, DUE, DAY + weekday(a, b), TICKET, NUM + r.integers(0, 10), EOT]
        toks += user + asst
        lab += [0] * len(user) + [0] + [1] * (len(asst) - 1)
    return toks, lab


def bucketed_batches(data, budget, r):
    """Sort by length inside shuffled chunks, then cut batches by token budget."""
    idx = r.permutation(len(data))
    out = []
    for c in range(0, len(idx), 256):
        chunk = sorted(idx[c:c + 256], key=lambda j: len(data[j][0]))
        cur = []
        for j in chunk:
            L = max([len(data[k][0]) for k in cur] + [len(data[j][0])])
            if cur and L * (len(cur) + 1) > budget:
                out.append(cur)
                cur = []
            cur.append(j)
        if cur:
            out.append(cur)
    r.shuffle(out)
    return out


def collate(rows):
    L = max(len(t) for t, _ in rows)
    x = np.full((len(rows), L), PAD, np.int32)
    m = np.zeros((len(rows), L), np.float32)
    for i, (t, lab) in enumerate(rows):
        x[i, :len(t)] = t
        m[i, :len(t)] = lab
    return mx.array(x), mx.array(m)


def alibi_bias(L, heads):
    slopes = mx.array([2.0 ** (-8.0 * (h + 1) / heads) for h in range(heads)])
    i = mx.arange(L)[:, None]
    j = mx.arange(L)[None, :]
    dist = (i - j).astype(mx.float32)
    b = -slopes[:, None, None] * dist[None]
    return mx.where((j <= i)[None], b, -1e9)[None]


class DeskLM(nn.Module):
    def __init__(self, d=32, heads=4):
        super().__init__()
        self.heads = heads
        self.emb = nn.Embedding(V, d)
        self.ln1 = nn.LayerNorm(d)
        self.ln2 = nn.LayerNorm(d)
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.o = nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 3 * d), nn.SiLU(), nn.Linear(3 * d, d))
        self.out = nn.Linear(d, V)

    def __call__(self, x):
        B, L = x.shape
        h = self.emb(x)
        z = self.ln1(h)
        sp = lambda t: t.reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)
        q, k, v = sp(self.q(z)), sp(self.k(z)), sp(self.v(z))
        att = (q @ k.transpose(0, 1, 3, 2)) * (q.shape[-1] ** -0.5) + alibi_bias(L, self.heads)
        a = (mx.softmax(att, axis=-1) @ v).transpose(0, 2, 1, 3).reshape(B, L, -1)
        h = h + self.o(a)
        h = h + self.mlp(self.ln2(h))
        return self.out(h)


def loss_fn(model, x, m):
    nll = nn.losses.cross_entropy(model(x[:, :-1]), x[:, 1:], reduction="none")
    w = m[:, 1:]
    return (nll * w).sum() / w.sum()


def weekday_acc(model, x, m):
    pred = mx.argmax(model(x[:, :-1]), axis=-1)
    tgt = x[:, 1:]
    sel = (tgt >= DAY) & (tgt < DAY + 7)
    return ((pred == tgt) & sel).sum().item() / sel.sum().item()


train = [make_conv(rng) for _ in range(2400)]
val = [make_conv(rng) for _ in range(200)]
vx, vm = collate(val)

CYCLES = [80, 160, 320]
ETA_MAX, ETA_MIN = 0.3, 0.002
sched = optim.join_schedules([optim.cosine_decay(ETA_MAX, c, ETA_MIN) for c in CYCLES],
                             list(np.cumsum(CYCLES)[:-1]))
model = DeskLM()
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)
mx.eval(model.parameters())
floor = math.log(10) / 5
print(f"params {sum(v.size for _, v in tree_flatten(model.parameters()))}; "
      f"assistant-token floor ln(10)/5 = {floor:.4f}; weekday chance = {1/7:.3f}")

lg = nn.value_and_grad(model, loss_fn)
total = sum(CYCLES)
ends = set(int(c) - 1 for c in np.cumsum(CYCLES))
batches, seen_rows, t0 = [], 0, time.time()
for it in range(total):
    if not batches:
        batches = bucketed_batches(train, budget=400, r=rng)
    rows = [train[j] for j in batches.pop()]
    seen_rows += len(rows)
    x, m = collate(rows)
    loss, g = lg(model, x, m)
    g, gn = optim.clip_grad_norm(g, 2.0)
    opt.update(model, g)
    mx.eval(loss, model.parameters(), opt.state)
    if it in ends or it in (0, 40, 100):
        vl = loss_fn(model, vx, vm).item()
        print(f"[{it:3d}] lr {float(sched(mx.array(it))):.4f}  batch {x.shape[0]:2d}x{x.shape[1]:2d}  "
              f"train {loss.item():.4f}  val {vl:.4f} (floor {floor:.4f}, gap {vl - floor:+.4f})  "
              f"weekday_acc {weekday_acc(model, vx, vm):.3f}  rows {seen_rows}")
print(f"done in {time.time() - t0:.1f}s")
