"""Belfry call sheets: a conductor writes the bell order as heard from the
ground (front to back); the tower book records it back to front.
A small encoder-decoder learns to write the book line from the call sheet.
Stage A uses short peals (3-5 bells), stage B longer ones (3-9 bells).
"""
import time, math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
PAD, BOS, EOS = 0, 1, 2
V, MAXL, DM, H = 13, 10, 32, 4   # tokens 3..12 are bells 1..10
SMOOTH = 0.1

def batch(n, lo, hi, key):
    k1, k2 = mx.random.split(key)
    lens = mx.random.randint(lo, hi + 1, (n,), key=k1)
    bells = mx.random.randint(3, V, (n, MAXL), key=k2)
    pos = mx.arange(MAXL)[None, :]
    valid = pos < lens[:, None]
    src = mx.where(valid, bells, PAD)
    ridx = mx.clip(lens[:, None] - 1 - pos, 0, MAXL - 1)
    rev = mx.where(valid, mx.take_along_axis(bells, ridx, axis=1), PAD)
    tgt_out = mx.concatenate([rev, mx.zeros((n, 1), mx.int32)], axis=1)
    tgt_out = mx.where(mx.arange(MAXL + 1)[None, :] == lens[:, None], EOS, tgt_out)
    tgt_in = mx.concatenate([mx.full((n, 1), BOS, mx.int32), tgt_out[:, :-1]], axis=1)
    return src, tgt_in, tgt_out, lens

class Block(nn.Module):
    def __init__(self, cross):
        super().__init__()
        self.n1 = nn.LayerNorm(DM); self.sa = nn.MultiHeadAttention(DM, H)
        self.cross = cross
        if cross:
            self.n2 = nn.LayerNorm(DM); self.ca = nn.MultiHeadAttention(DM, H)
        self.n3 = nn.LayerNorm(DM)
        self.ff = nn.Sequential(nn.Linear(DM, 4 * DM), nn.GELU(), nn.Linear(4 * DM, DM))

    def __call__(self, x, self_mask, mem=None, mem_mask=None):
        h = self.n1(x); x = x + self.sa(h, h, h, self_mask)
        if self.cross:
            h = self.n2(x); x = x + self.ca(h, mem, mem, mem_mask)
        return x + self.ff(self.n3(x))

class Scribe(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, DM)
        self.pos = nn.Embedding(MAXL + 1, DM)
        self.enc = [Block(False)]
        self.dec = [Block(True), Block(True)]
        self.out_norm = nn.LayerNorm(DM); self.out = nn.Linear(DM, V)

    def __call__(self, src, tgt_in):
        neg = -1e9
        key_ok = (src != PAD)[:, None, None, :]
        src_mask = mx.where(key_ok, 0.0, neg)
        m = self.emb(src) + self.pos(mx.arange(src.shape[1]))
        for b in self.enc:
            m = b(m, src_mask)
        T = tgt_in.shape[1]
        causal = nn.MultiHeadAttention.create_additive_causal_mask(T)
        y = self.emb(tgt_in) + self.pos(mx.arange(T))
        for b in self.dec:
            y = b(y, causal, m, src_mask)
        return self.out(self.out_norm(y))

def loss_fn(model, src, tin, tout, lens):
    logits = model(src, tin)
    keep = (mx.arange(MAXL + 1)[None, :] <= lens[:, None]).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, tout, label_smoothing=SMOOTH, reduction="none")
    return (ce * keep).sum() / keep.sum()

def greedy(model, src, lens):
    n = src.shape[0]
    tin = mx.full((n, 1), BOS, mx.int32)
    for _ in range(MAXL + 1):
        nxt = mx.argmax(model(src, tin)[:, -1], axis=-1).astype(mx.int32)
        tin = mx.concatenate([tin, nxt[:, None]], axis=1)
    return tin[:, 1:]

def score(model, lo, hi, key):
    src, tin, tout, lens = batch(200, lo, hi, key)
    keep = mx.arange(MAXL + 1)[None, :] <= lens[:, None]
    pred = greedy(model, src, lens)
    exact = mx.all((pred == tout) | ~keep, axis=1).mean().item()
    # baseline: write the call sheet unchanged (front to back) then EOS
    copy = mx.concatenate([src, mx.zeros((src.shape[0], 1), mx.int32)], axis=1)
    copy = mx.where(mx.arange(MAXL + 1)[None, :] == lens[:, None], EOS, copy)
    cexact = mx.all((copy == tout) | ~keep, axis=1).mean().item()
    return exact, cexact

# floor of smoothed cross-entropy for a perfect predictor
floor = -(1 - SMOOTH + SMOOTH / V) * math.log(1 - SMOOTH + SMOOTH / V) - (V - 1) * (SMOOTH / V) * math.log(SMOOTH / V)
print(f"smoothed-CE floor for a perfect scribe: {floor:.3f} nats/token")

model = Scribe()
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 40),
                              optim.exponential_decay(3e-3, 0.997)], [40])
opt = optim.Adamax(learning_rate=sched)
step_fn = nn.value_and_grad(model, loss_fn)
t0 = time.time(); step = 0
for stage, (lo, hi, steps) in (("A", (3, 5, 150)), ("B", (3, 9, 200))):
    print(f"stage {stage}: peals of {lo}-{hi} bells")
    for i in range(steps):
        step += 1
        src, tin, tout, lens = batch(32, lo, hi, mx.random.key(step))
        loss, g = step_fn(model, src, tin, tout, lens)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if i == 0 or (i + 1) % 50 == 0:
            print(f"  step {step:4d} lr {opt.learning_rate.item():.2e} loss {loss.item():.3f} ({time.time()-t0:.1f}s)")
    ex, cex = score(model, lo, hi, mx.random.key(90000 + step))
    print(f"  end of stage {stage}: exact book lines {ex:.3f} vs copy-as-called {cex:.3f}")
ex, cex = score(model, 3, 9, mx.random.key(123456))
print(f"held-out 3-9 bells: exact {ex:.3f}, copy-as-called {cex:.3f}, floor {floor:.3f}")
