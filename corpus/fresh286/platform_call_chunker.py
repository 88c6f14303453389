import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(3)
mx.random.seed(3)

# station-announcement chunking: each word tagged O / STN / TIME / PLAT (B- and I-)
TAGS = ["O", "B-STN", "I-STN", "B-TIME", "I-TIME", "B-PLAT", "I-PLAT"]
STN = [["york"], ["leeds"], ["new", "street"], ["kings", "cross"], ["bath", "spa"], ["ely"]]
TIME = [["ten", "past", "nine"], ["half", "six"], ["noon"], ["quarter", "to", "four"]]
PLAT = [["platform", "two"], ["platform", "nine"], ["bay", "a"]]
TEMPLATES = [
    ["the", "service", "to", "S", "departs", "T", "from", "P"],
    ["P", "for", "the", "T", "to", "S"],
    ["next", "train", "S", "calling", "at", "S", "T"],
    ["please", "stand", "back", "from", "P"],
    ["the", "T", "service", "is", "delayed"],
]
words = set(w for t in TEMPLATES for w in t if w not in "STP")
words |= set(w for g in STN + TIME + PLAT for w in g)
vocab = {w: i + 1 for i, w in enumerate(sorted(words))}

def announcement():
    ws, ts = [], []
    for slot in TEMPLATES[rng.integers(len(TEMPLATES))]:
        if slot in ("S", "T", "P"):
            k = "STP".index(slot); pool = [STN, TIME, PLAT][k]
            ent = pool[rng.integers(len(pool))]
            for j, w in enumerate(ent):
                ws.append(vocab[w]); ts.append(1 + 2 * k + (j > 0))
        else:
            ws.append(vocab[slot]); ts.append(0)
    noisy = rng.random(len(ts)) < 0.04  # transcriber slips in the labels
    ts = [int(rng.integers(len(TAGS))) if n else t for t, n in zip(ts, noisy)]
    return ws, ts

def pad(batch):
    L = max(len(w) for w, _ in batch)
    x = np.zeros((len(batch), L), np.int32); y = np.zeros_like(x); n = np.zeros(len(batch), np.int32)
    for r, (w, t) in enumerate(batch):
        x[r, :len(w)] = w; y[r, :len(t)] = t; n[r] = len(w)
    return mx.array(x), mx.array(y), mx.array(n)

class BiGRUTagger(nn.Module):
    def __init__(self, nv, nt, d=32, h=48):
        super().__init__()
        self.emb = nn.Embedding(nv, d)
        self.fwd = nn.GRU(d, h)
        self.bwd = nn.GRU(d, h)
        self.head = nn.Linear(2 * h, nt)
    def __call__(self, x, n):
        L = x.shape[1]
        t = mx.arange(L)[None, :]
        valid = t < n[:, None]
        rev = mx.where(valid, n[:, None] - 1 - t, t)       # reverse each row inside its length
        e = self.emb(x)
        hf = self.fwd(e)
        er = mx.take_along_axis(e, rev[..., None], axis=1)
        hb = mx.take_along_axis(self.bwd(er), rev[..., None], axis=1)
        return self.head(mx.concatenate([hf, hb], axis=-1)), valid

def loss_fn(model, x, y, n):
    logits, valid = model(x, n)
    ce = nn.losses.cross_entropy(logits, y, label_smoothing=0.1, reduction="none")
    v = valid.astype(mx.float32)
    return (ce * v).sum() / v.sum()

def evaluate(model, data):
    x, y, n = pad(data)
    logits, valid = model(x, n)
    pred = mx.argmax(logits, -1)
    v = valid.astype(mx.float32)
    acc = ((pred == y) * v).sum() / v.sum()
    ent = ((y > 0) * v)
    ent_rec = ((pred == y) * ent).sum() / ent.sum()
    return loss_fn(model, x, y, n).item(), acc.item(), ent_rec.item()

train = [announcement() for _ in range(1800)]
valid = [announcement() for _ in range(400)]
model = BiGRUTagger(len(vocab) + 1, len(TAGS))
mx.eval(model.parameters())
WARM = 40
opt = optim.Adam(learning_rate=optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), lambda s: mx.array(3e-3)], [WARM]))
grad_fn = nn.value_and_grad(model, loss_fn)
ACC, MB = 4, 16  # four micro-batches of 16 per optimizer update

vl, va, vr = evaluate(model, valid)
print(f"announcements {len(train)}/{len(valid)}, vocab {len(vocab)}, label noise 4%, smoothing 0.1")
print(f"update   0  lr 0.0000  valid loss {vl:.3f}  token acc {va:.3f}  entity-token recall {vr:.3f}")
t0 = time.time(); upd = 0; hist = []
for epoch in range(1, 5):
    perm = rng.permutation(len(train))
    for s in range(0, len(perm) - MB * ACC + 1, MB * ACC):
        acc_g, tot = None, 0.0
        for k in range(ACC):
            idx = perm[s + k * MB: s + (k + 1) * MB]
            l, g = grad_fn(model, *pad([train[i] for i in idx]))
            acc_g = g if acc_g is None else tree_map(lambda a, b: a + b, acc_g, g)
            tot += l
        acc_g = tree_map(lambda a: a / ACC, acc_g)
        lr = opt.learning_rate.item()
        opt.update(model, acc_g)
        mx.eval(model.parameters(), opt.state)
        upd += 1; hist.append((tot / ACC).item())
    vl, va, vr = evaluate(model, valid)
    print(f"update {upd:3d}  lr {lr:.4f}  train loss {np.mean(hist[-28:]):.3f}  valid loss {vl:.3f}  "
          f"token acc {va:.3f}  entity-token recall {vr:.3f}  ({time.time()-t0:.1f}s)")
print(f"done after {upd} updates")
