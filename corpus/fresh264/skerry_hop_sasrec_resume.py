"""Island-hopping next-port recommender (SASRec-style) for a skerry ferry pass.

Each traveller's pass log is a sequence of ports. A small causal self-attention
encoder reads the log so far and scores the next port against the shared port
table. Training uses one sampled unvisited port per position (binary CE), Adam
with a linear warm-up from lr 0, and a checkpoint/resume into fresh objects
half-way. Output is a gnuplot-style data file on stdout.
"""

import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_PORTS = 200          # ids 1..200, 0 is padding
N_TRAV = 500
MAXLEN = 12
DIM = 24
EPOCHS = 24
RESUME_AT = 12
BATCH = 100

rng = np.random.default_rng(7)

# ---------- synthetic pass logs ----------
cluster = rng.integers(0, 12, size=N_PORTS + 1)
fame = rng.gamma(1.2, 1.0, size=N_PORTS + 1)
fame[0] = 0.0
members = [np.where(cluster[1:] == c)[0] + 1 for c in range(12)]


def next_port(cur):
    r = rng.random()
    c = cluster[cur]
    if r < 0.65:
        pool = members[c]
    elif r < 0.9:
        pool = members[(c + rng.choice([-1, 1])) % 12]
    else:
        pool = np.arange(1, N_PORTS + 1)
    w = fame[pool] + 0.05
    return int(rng.choice(pool, p=w / w.sum()))


logs = []
for _ in range(N_TRAV):
    L = int(rng.integers(8, MAXLEN + 3))
    p = int(rng.integers(1, N_PORTS + 1))
    seq = [p]
    for _ in range(L - 1):
        seq.append(next_port(seq[-1]))
    logs.append(seq)

train_seqs = [s[:-1] for s in logs]        # last port held out for testing
test_target = np.array([s[-1] for s in logs])


def left_pad(seq, n):
    seq = seq[-n:]
    return [0] * (n - len(seq)) + seq


# inputs/targets for training: predict s[t+1] from s[:t+1]
train_in = np.array([left_pad(s[:-1], MAXLEN) for s in train_seqs], dtype=np.int32)
train_pos = np.array([left_pad(s[1:], MAXLEN) for s in train_seqs], dtype=np.int32)
visited = [set(s) for s in logs]
test_in = np.array([left_pad(s, MAXLEN) for s in train_seqs], dtype=np.int32)

# candidate lists for evaluation: the held-out port + 100 unvisited ports
cands = np.zeros((N_TRAV, 101), dtype=np.int32)
for u in range(N_TRAV):
    negs = []
    while len(negs) < 100:
        j = int(rng.integers(1, N_PORTS + 1))
        if j not in visited[u]:
            negs.append(j)
    cands[u, 0] = test_target[u]
    cands[u, 1:] = negs


def rank_metrics(scores):
    # scores: (N_TRAV, 101) with the true port in column 0
    rank = (scores[:, 1:] > scores[:, :1]).sum(axis=1)
    hit = (rank < 10).mean()
    ndcg = np.where(rank < 10, 1.0 / np.log2(rank + 2.0), 0.0).mean()
    return 100.0 * hit, ndcg


# reference scorers
counts = np.zeros(N_PORTS + 1)
trans = np.zeros((N_PORTS + 1, N_PORTS + 1))
for s in train_seqs:
    for a, b in zip(s[:-1], s[1:]):
        trans[a, b] += 1
    for a in s:
        counts[a] += 1
pop_hr, pop_ndcg = rank_metrics(counts[cands] + 1e-6 * rng.random(cands.shape))
last = np.array([s[-1] for s in train_seqs])
mk = trans[last[:, None], cands] + 1e-3 * counts[cands] + 1e-6 * rng.random(cands.shape)
mk_hr, mk_ndcg = rank_metrics(mk)


# ---------- model ----------
class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.ff1 = nn.Linear(dim, 2 * dim)
        self.ff2 = nn.Linear(2 * dim, dim)
        self.drop = nn.Dropout(0.1)

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.drop(self.attn(h, h, h, mask))
        x = x + self.drop(self.ff2(nn.relu(self.ff1(self.ln2(x)))))
        return x


class PortSeq(nn.Module):
    def __init__(self):
        super().__init__()
        self.ports = nn.Embedding(N_PORTS + 1, DIM)
        self.pos = nn.Embedding(MAXLEN, DIM)
        self.blocks = [Block(DIM, 2), Block(DIM, 2)]
        self.ln = nn.LayerNorm(DIM)
        self.drop = nn.Dropout(0.1)

    def encode(self, seq):
        pad = (seq > 0)[..., None]
        x = self.ports(seq) * math.sqrt(DIM) + self.pos(mx.arange(seq.shape[1]))
        x = self.drop(x) * pad
        mask = nn.MultiHeadAttention.create_additive_causal_mask(seq.shape[1])
        for b in self.blocks:
            x = b(x, mask) * pad
        return self.ln(x)

    def score(self, h, items):
        return (h[..., None, :] * self.ports(items)).sum(-1)


def loss_fn(model, seq, pos, neg):
    h = model.encode(seq)
    sp = (h * model.ports(pos)).sum(-1)
    sn = (h * model.ports(neg)).sum(-1)
    m = (pos > 0).astype(mx.float32)
    per = -nn.log_sigmoid(sp) - nn.log_sigmoid(-sn)
    return (per * m).sum() / m.sum()


def sample_negs(idx):
    out = np.zeros((len(idx), MAXLEN), dtype=np.int32)
    for r, u in enumerate(idx):
        for t in range(MAXLEN):
            if train_pos[u, t] == 0:
                continue
            j = int(rng.integers(1, N_PORTS + 1))
            while j in visited[u]:
                j = int(rng.integers(1, N_PORTS + 1))
            out[r, t] = j
    return out


def evaluate(model):
    model.eval()
    h = model.encode(mx.array(test_in))[:, -1, :]
    s = model.score(h, mx.array(cands))
    model.train()
    return rank_metrics(np.array(s))


steps_per_epoch = math.ceil(N_TRAV / BATCH)
WARM = 3 * steps_per_epoch


def make(seed):
    mx.random.seed(seed)
    model = PortSeq()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, EPOCHS * steps_per_epoch, 2e-4)],
        [WARM],
    )
    opt = optim.Adam(learning_rate=sched)
    return model, opt


def run_epochs(model, opt, e0, e1, t0):
    vg = nn.value_and_grad(model, loss_fn)
    for ep in range(e0, e1 + 1):
        perm = rng.permutation(N_TRAV)
        tot, nb = 0.0, 0
        for b in range(0, N_TRAV, BATCH):
            idx = perm[b:b + BATCH]
            neg = sample_negs(idx)
            lr_now = float(opt.learning_rate)
            loss, g = vg(model, mx.array(train_in[idx]), mx.array(train_pos[idx]), mx.array(neg))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        hr, nd = evaluate(model) if (ep % 4 == 0 or ep in (1, e1)) else (float("nan"), float("nan"))
        if not math.isnan(hr):
            print(f"{ep:5d} {int(opt.step.item()):6d} {lr_now:10.6f} {tot / nb:8.4f} {hr:7.2f} {nd:7.4f} {time.time() - t0:6.1f}")
    return model, opt


t0 = time.time()
print(f"# skerry pass logs: {N_TRAV} travellers, {N_PORTS} ports, mean log length {np.mean([len(s) for s in logs]):.1f}")
print(f"# reference  most-visited:  hr10={pop_hr:.2f} ndcg10={pop_ndcg:.4f}")
print(f"# reference  port-to-port:  hr10={mk_hr:.2f} ndcg10={mk_ndcg:.4f}")
print(f"# reference  random:        hr10={100 * 10 / 101:.2f}")
model, opt = make(11)
h0, n0 = evaluate(model)
print(f"# untrained                 hr10={h0:.2f} ndcg10={n0:.4f}")
print("# session 1")
print("# epoch   step         lr      bce    hr10  ndcg10      t")
model, opt = run_epochs(model, opt, 1, RESUME_AT, t0)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
saved = evaluate(model)
del model, opt

model, opt = make(999)
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
again = evaluate(model)
print("")
print("")
print(f"# session 2 (resumed from {os.path.basename(ckpt)}: step {int(opt.step.item())}, "
      f"hr10 saved {saved[0]:.2f} / reloaded {again[0]:.2f})")
print("# epoch   step         lr      bce    hr10  ndcg10      t")
model, opt = run_epochs(model, opt, RESUME_AT + 1, EPOCHS, t0)
hr, nd = evaluate(model)
print(f"# final hr10={hr:.2f} ndcg10={nd:.4f}  (port-to-port {mk_hr:.2f}, most-visited {pop_hr:.2f})")
