import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

PAD, MSK, NTOK, NMETH = 0, 1, 12, 3
rng = np.random.default_rng(7)
mx.random.seed(7)

# three invented ringing methods = three bell-to-bell transition tables
tables = []
for m in range(NMETH):
    t = rng.random((NTOK - 2, NTOK - 2)) ** 6 + 0.02
    tables.append(t / t.sum(1, keepdims=True))

def peal(m):
    n = int(rng.integers(6, 31))
    s = [int(rng.integers(0, NTOK - 2))]
    for _ in range(n - 1):
        s.append(int(rng.choice(NTOK - 2, p=tables[m][s[-1]])))
    return [x + 2 for x in s]

def make(n):
    labels = rng.integers(0, NMETH, n)
    return [peal(int(m)) for m in labels], labels

def left_pad(seqs):
    L = max(len(s) for s in seqs)
    ids = np.full((len(seqs), L), PAD, np.int32)
    for i, s in enumerate(seqs):
        ids[i, L - len(s):] = s
    return ids

class Encoder(nn.Module):
    def __init__(self, d=48, heads=4, maxlen=32):
        super().__init__()
        self.tok = nn.Embedding(NTOK, d)
        self.pos = nn.Embedding(maxlen, d)
        self.att = nn.MultiHeadAttention(d, heads)
        self.n1 = nn.LayerNorm(d)
        self.n2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.lm = nn.Linear(d, NTOK)
        self.cls = nn.Linear(d, NMETH)

    def encode(self, ids):
        keep = ids != PAD
        # positions count from the first real bell so left padding does not shift them
        pos = mx.maximum(mx.cumsum(keep.astype(mx.int32), axis=1) - 1, 0)
        h = self.tok(ids) + self.pos(pos)
        bias = mx.where(keep[:, None, None, :], 0.0, -1e9).astype(h.dtype)
        x = self.n1(h)
        h = h + self.att(x, x, x, mask=bias)
        h = h + self.ff(self.n2(h))
        return h, keep

    def mlm_logits(self, ids):
        return self.lm(self.encode(ids)[0])

    def classify(self, ids):
        h, keep = self.encode(ids)
        w = keep.astype(h.dtype)[..., None]
        return self.cls((h * w).sum(1) / w.sum(1))

def mlm_loss(model, ids, targets, chosen):
    ce = nn.losses.cross_entropy(model.mlm_logits(ids), targets)
    c = chosen.astype(ce.dtype)
    return (ce * c).sum() / mx.maximum(c.sum(), 1.0)

def cls_loss(model, ids, y):
    return nn.losses.cross_entropy(model.classify(ids), y, reduction="mean")

def corrupt(ids):
    real = ids != PAD
    chosen = (rng.random(ids.shape) < 0.2) & real
    inp = np.where(chosen, MSK, ids)
    return mx.array(inp), mx.array(ids), mx.array(chosen)

def batches(seqs, labels, bs):
    order = rng.permutation(len(seqs))
    for i in range(0, len(order) - bs + 1, bs):
        idx = order[i:i + bs]
        yield left_pad([seqs[j] for j in idx]), labels[idx]

unl, _ = make(1280)
tr, ytr = make(600)
va, yva = make(600)
va_ids = mx.array(left_pad(va))

model = Encoder()
print("stage,step,lr,loss,metric,reference")
t0 = time.time()

# stage 1: masked-bell pretraining, lr ramps up from exactly 0
sched1 = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 40), optim.cosine_decay(2e-3, 120, 2e-4)], [40])
opt = optim.Adam(learning_rate=sched1)
vg = nn.value_and_grad(model, mlm_loss)
dummy = np.zeros(len(unl), np.int64)
step, run = 0, []
for epoch in range(4):
    for ids, _ in batches(unl, dummy, 32):
        lr = float(opt.learning_rate)
        loss, g = vg(model, *corrupt(ids))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        run.append(loss.item())
        step += 1
        if step == 1 or step % 40 == 0:
            print(f"mlm,{step},{lr:.6f},{np.mean(run):.4f},,{np.log(NTOK - 2):.4f}")
            run = []

ckpt = os.path.join(tempfile.mkdtemp(), "encoder_stage1.npz")
model.save_weights(ckpt)
print(f"# saved {len(tree_flatten(model.parameters()))} arrays after {step} steps")

# stage 2: fresh process state, reload encoder, fit the method classifier
model = Encoder()
model.load_weights(ckpt)
sched2 = optim.join_schedules([optim.linear_schedule(0.0, 1e-3, 20), optim.cosine_decay(1e-3, 100, 5e-5)], [20])
opt = optim.AdamW(learning_rate=sched2, weight_decay=0.01)
vg = nn.value_and_grad(model, cls_loss)
majority = np.bincount(yva).max() / len(yva)
step, run = 0, []
for epoch in range(8):
    for ids, y in batches(tr, ytr, 40):
        lr = float(opt.learning_rate)
        loss, g = vg(model, mx.array(ids), mx.array(y))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        run.append(loss.item())
        step += 1
    acc = (mx.argmax(model.classify(va_ids), axis=1) == mx.array(yva)).mean().item()
    print(f"method,{step},{lr:.6f},{np.mean(run):.4f},{acc:.4f},{majority:.4f}")
    run = []
print(f"# done in {time.time() - t0:.1f}s")
