# Ferry terminal departure-board phrases: a tiny causal transformer trained on
# PACKED rows (several phrases per 48-token row, block-diagonal attention,
# positions restarting at each phrase). Checkpoint at step 60, reload into a
# fresh model + optimizer, continue to 120.
import os, time, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)
V_WORD, N_ROUTE = 24, 6
BOS, EOS, PAD = 0, 1, 2
ROUTE0 = 3
WORD0 = ROUTE0 + N_ROUTE
VOCAB = WORD0 + V_WORD
ROW = 48

def phrase():
    r = int(rng.integers(N_ROUTE))
    n = int(rng.integers(3, 10))
    w = int(rng.integers(V_WORD))
    toks = [BOS, ROUTE0 + r, WORD0 + w]
    for _ in range(n - 1):
        w = (w + r + 1) % V_WORD if rng.random() < 0.9 else int(rng.integers(V_WORD))
        toks.append(WORD0 + w)
    toks.append(EOS)
    return toks

def pack(n_rows):
    ids = np.full((n_rows, ROW + 1), PAD, np.int32)
    doc = np.full((n_rows, ROW + 1), -1, np.int32)
    pos = np.zeros((n_rows, ROW + 1), np.int32)
    for i in range(n_rows):
        c, d = 0, 0
        while True:
            p = phrase()
            if c + len(p) > ROW + 1:
                break
            ids[i, c:c + len(p)] = p
            doc[i, c:c + len(p)] = d
            pos[i, c:c + len(p)] = np.arange(len(p))
            c += len(p); d += 1
    return ids, doc, pos

def to_batch(ids, doc, pos):
    x, y = ids[:, :-1], ids[:, 1:]
    dx, dy = doc[:, :-1], doc[:, 1:]
    w = ((dx == dy) & (dx >= 0)).astype(np.float32)  # target inside the same phrase
    same = (dx[:, :, None] == dx[:, None, :]) & (dx[:, :, None] >= 0)
    causal = np.tril(np.ones((ROW, ROW), bool))[None]
    allow = same & causal
    allow |= np.eye(ROW, dtype=bool)[None]
    bias = np.where(allow, 0.0, -1e9).astype(np.float32)[:, None]
    return mx.array(x), mx.array(y), mx.array(w), mx.array(pos[:, :-1]), mx.array(bias)

class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, h)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
    def __call__(self, x, bias):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask=bias)
        return x + self.ff(self.ln2(x))

class BoardLM(nn.Module):
    def __init__(self, d=48, h=4, L=2):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(16, d)
        self.blocks = [Block(d, h) for _ in range(L)]
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, VOCAB)
    def __call__(self, x, pos, bias):
        z = self.tok(x) + self.pos(pos)
        for b in self.blocks:
            z = b(z, bias)
        return self.head(self.ln(z))

def loss_fn(model, x, y, w, pos, bias):
    ce = nn.losses.cross_entropy(model(x, pos, bias), y)
    return (ce * w).sum() / w.sum()

def make_opt():
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 20), optim.cosine_decay(3e-3, 100, 3e-4)], [20])
    return optim.AdamW(learning_rate=sched, weight_decay=0.01)

def bits(v):
    return v / np.log(2)

val = to_batch(*pack(64))
tr_ids, tr_doc, tr_pos = pack(1024)

# bigram reference: counts from the packed training rows, within phrases only
cnt = np.ones((VOCAB, VOCAB))
m = (tr_doc[:, :-1] == tr_doc[:, 1:]) & (tr_doc[:, :-1] >= 0)
np.add.at(cnt, (tr_ids[:, :-1][m], tr_ids[:, 1:][m]), 1)
prob = cnt / cnt.sum(1, keepdims=True)
vx, vy, vw = np.array(val[0]), np.array(val[1]), np.array(val[2])
bigram_bits = float(-(np.log2(prob[vx, vy]) * vw).sum() / vw.sum())

model = BoardLM()
opt = make_opt()

def train_span(model, opt, start, stop, t0):
    lg = nn.value_and_grad(model, loss_fn)
    run = []
    for step in range(start, stop + 1):
        idx = rng.integers(0, len(tr_ids), 16)
        b = to_batch(tr_ids[idx], tr_doc[idx], tr_pos[idx])
        lr = float(opt.learning_rate) if step > 1 else 0.0
        loss, g = lg(model, *b)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if step % 15 == 0 or step == 1:
            v = loss_fn(model, *val).item()
            print(f"| {step:4d} | {lr:.2e} | {bits(np.mean(run)):6.3f} | {bits(v):6.3f} | {bigram_bits:6.3f} | {time.time()-t0:5.1f} |", flush=True)
            run = []

print(f"vocab {VOCAB}, rows {len(tr_ids)} x {ROW}, phrases/row {float((tr_doc.max(1)+1).mean()):.2f}, "
      f"target fill {float(m.mean())*100:.1f}%")
print("| step | lr | train bits/tok | val bits/tok | bigram ref | sec |")
print("|---|---|---|---|---|---|")
t0 = time.time()
train_span(model, opt, 1, 60, t0)

ckpt = tempfile.mkdtemp()
mx.save_safetensors(os.path.join(ckpt, "w.safetensors"), dict(tree_flatten(model.parameters())))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written ({len(os.listdir(ckpt))} files); reloading into a fresh model")

model2 = BoardLM()
model2.load_weights(os.path.join(ckpt, "w.safetensors"))
opt2 = make_opt()
opt2.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
print(f"resumed at optimizer step {int(opt2.state['step'])}, val bits/tok {bits(loss_fn(model2, *val).item()):.3f}")
train_span(model2, opt2, 61, 120, t0)

# next-word accuracy on the rule-following positions after the route token
logits = model2(val[0], val[3], val[4])
pred = np.array(mx.argmax(logits, -1))
sel = (vw > 0) & (vx >= WORD0) & (vy >= WORD0)
print(f"done: val next-word accuracy {100*float((pred[sel]==vy[sel]).mean()):.1f}% (rule holds 90%)")
