# Knitting chart row expansion: compact row notation ("k3 p2 yo k1") -> stitch-by-stitch string.
# Small encoder-decoder built from nn.MultiHeadAttention (self + cross attention), learned positions.
# Two-stage curriculum (short repeats, then longer repeats), checkpoint written at the end of
# stage 1 and training resumed from it in a freshly built model + optimizer.
import os, random, tempfile, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

random.seed(11); mx.random.seed(11)
STITCH = {"k": "K", "p": "P", "yo": "O", "sl": "S"}
SRC = ["<p>", "k", "p", "yo", "sl"] + [str(i) for i in range(1, 7)]
TGT = ["<p>", "<s>", "</s>", "K", "P", "O", "S"]
si = {c: i for i, c in enumerate(SRC)}; ti = {c: i for i, c in enumerate(TGT)}
SLEN, TLEN = 10, 16

def sample(maxrep):
    toks, out = [], ""
    while True:
        st = random.choice(list(STITCH))
        n = 1 if st == "yo" else random.randint(1, maxrep)
        if len(out) + n > TLEN - 2 or len(toks) + 2 > SLEN: break
        toks += [st] if st == "yo" else [st, str(n)]
        out += STITCH[st] * n
        if random.random() < 0.25 and len(out) >= 4: break
    src = [si[t] for t in toks] + [0] * (SLEN - len(toks))
    tgt = [1] + [ti[c] for c in out] + [2]
    return src, tgt + [0] * (TLEN - len(tgt)), out

def batch(n, maxrep):
    s, t, o = zip(*[sample(maxrep) for _ in range(n)])
    return mx.array(s), mx.array(t), o

class Block(nn.Module):
    def __init__(s, d, cross):
        super().__init__()
        s.n1 = nn.LayerNorm(d); s.att = nn.MultiHeadAttention(d, 4)
        s.cross = cross
        if cross:
            s.n2 = nn.LayerNorm(d); s.xatt = nn.MultiHeadAttention(d, 4)
        s.n3 = nn.LayerNorm(d); s.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
    def __call__(s, x, mask, mem=None, mem_mask=None):
        h = s.n1(x); x = x + s.att(h, h, h, mask)
        if s.cross:
            h = s.n2(x); x = x + s.xatt(h, mem, mem, mem_mask)
        return x + s.ff(s.n3(x))

class RowExpander(nn.Module):
    def __init__(s, d=32):
        super().__init__()
        s.se = nn.Embedding(len(SRC), d); s.sp = nn.Embedding(SLEN, d)
        s.te = nn.Embedding(len(TGT), d); s.tp = nn.Embedding(TLEN, d)
        s.enc = [Block(d, False) for _ in range(1)]
        s.dec = [Block(d, True) for _ in range(1)]
        s.norm = nn.LayerNorm(d); s.head = nn.Linear(d, len(TGT))
    def __call__(s, src, tin):
        pad = mx.where(src == 0, -1e9, 0.0)[:, None, None, :]
        x = s.se(src) + s.sp(mx.arange(src.shape[1]))
        for b in s.enc: x = b(x, pad)
        L = tin.shape[1]
        causal = nn.MultiHeadAttention.create_additive_causal_mask(L)
        y = s.te(tin) + s.tp(mx.arange(L))
        for b in s.dec: y = b(y, causal, x, pad)
        return s.head(s.norm(y))

def loss_fn(m, src, tgt):
    lo = m(src, tgt[:, :-1]); gold = tgt[:, 1:]
    keep = (gold != 0).astype(mx.float32)
    return (nn.losses.cross_entropy(lo, gold) * keep).sum() / keep.sum()

def greedy(m, src):
    seq = mx.ones((src.shape[0], 1), dtype=mx.int32)
    for _ in range(TLEN - 1):
        nxt = m(src, seq)[:, -1].argmax(-1)
        seq = mx.concatenate([seq, nxt[:, None].astype(mx.int32)], 1)
    rows = []
    for r in seq[:, 1:].tolist():
        s = ""
        for t in r:
            if t == 2: break
            if t >= 3: s += TGT[t]
        rows.append(s)
    return rows

def row_accuracy(m, maxrep, n=96):
    src, _, outs = batch(n, maxrep)
    return sum(a == b for a, b in zip(greedy(m, src), outs)) / n

def run_stage(m, opt, name, steps, maxrep, start):
    step_fn = nn.value_and_grad(m, loss_fn); tot = 0.0
    for it in range(start + 1, start + steps + 1):
        src, tgt, _ = batch(32, random.choice(maxrep))
        loss, g = step_fn(m, src, tgt)
        opt.update(m, g); mx.eval(m.parameters(), opt.state)
        tot += loss.item()
        if it % 50 == 0:
            print(f"[{name}] step {it:4d}  lr {opt.learning_rate.item():.5f}  loss {tot/50:.4f}")
            tot = 0.0
    return start + steps

ckpt = os.path.join(tempfile.mkdtemp(), "rows_stage1")
model = RowExpander(); mx.eval(model.parameters())
print(f"params {sum(v.size for _, v in tree_flatten(model.parameters()))}")
sched1 = optim.linear_schedule(0.0, 3e-3, 100)     # warm up from exactly 0
opt = optim.AdamW(learning_rate=sched1, weight_decay=0.01)
t0 = time.time()
step = run_stage(model, opt, "stage1 repeats<=2", 300, (2,), 0)
print(f"stage1 row accuracy (repeats<=2) {row_accuracy(model, 2):.3f}   on repeats<=6 {row_accuracy(model, 6):.3f}")
model.save_weights(ckpt + ".safetensors")
mx.save_safetensors(ckpt + "_opt.safetensors", dict(tree_flatten(opt.state)))
print(f"checkpoint written at step {step}")

# resume: fresh objects, weights + optimizer moments restored, new stage mixes in longer repeats
model = RowExpander(); model.load_weights(ckpt + ".safetensors"); mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
opt.init(model.trainable_parameters())
state = tree_unflatten(list(mx.load(ckpt + "_opt.safetensors").items()))
state["learning_rate"] = mx.array(2e-3); opt.state = state
print(f"resumed from step {step}; first stage2 batches contain repeats the model has not seen")
step = run_stage(model, opt, "stage2 mixed repeats<=2 / <=6", 400, (2, 6, 6), step)
print(f"final row accuracy (repeats<=6) {row_accuracy(model, 6):.3f}  (repeats<=2) {row_accuracy(model, 2):.3f}")
src, _, outs = batch(4, 6)
for s, p, o in zip(src.tolist(), greedy(model, src), outs):
    print("  " + " ".join(SRC[t] for t in s if t) + f"  ->  {p}   (chart {o})")
print(f"time {time.time()-t0:.1f}s")
