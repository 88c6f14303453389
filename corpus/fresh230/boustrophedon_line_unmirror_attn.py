# Boustrophedon inscription reader: every other line of an archaic inscription runs
# right-to-left; a tiny hand-written multi-head attention model learns to un-mirror such a
# line of glyph codes (output the line reversed).
# Curriculum: short lines (4 glyphs) first, then long lines (8 glyphs) -> loss jumps at stage 2.
# LR warms up from exactly 0.  Output: one JSON object per log line.
import json, math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
VOCAB, PAD, MAXLEN, DIM, HEADS = 10, 10, 8, 48, 4


class HandAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.h, self.dh = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim)

    def __call__(self, x, keymask):
        B, L, D = x.shape
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        q = q.reshape(B, L, self.h, self.dh).transpose(0, 2, 1, 3)
        k = k.reshape(B, L, self.h, self.dh).transpose(0, 2, 1, 3)
        v = v.reshape(B, L, self.h, self.dh).transpose(0, 2, 1, 3)
        s = (q @ k.transpose(0, 1, 3, 2)) / math.sqrt(self.dh)
        s = mx.where(keymask[:, None, None, :], s, -1e9)
        a = mx.softmax(s, axis=-1)
        o = (a @ v).transpose(0, 2, 1, 3).reshape(B, L, D)
        return self.out(o)


class LineReader(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB + 1, DIM)
        self.pos = nn.Embedding(MAXLEN, DIM)
        self.lenemb = nn.Embedding(MAXLEN + 1, DIM)
        self.n1, self.n2, self.n3 = nn.LayerNorm(DIM), nn.LayerNorm(DIM), nn.LayerNorm(DIM)
        self.att1 = HandAttention(DIM, HEADS)
        self.att2 = HandAttention(DIM, HEADS)
        self.ff = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.GELU(), nn.Linear(2 * DIM, DIM))
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, toks, lens):
        keymask = mx.arange(MAXLEN)[None, :] < lens[:, None]
        x = self.tok(toks) + self.pos(mx.arange(MAXLEN))[None] + self.lenemb(lens)[:, None, :]
        x = x + self.att1(self.n1(x), keymask)
        x = x + self.att2(self.n2(x), keymask)
        x = x + self.ff(self.n3(x))
        return self.head(x)


def make_lines(n, length):
    glyphs = mx.random.randint(0, VOCAB, (n, MAXLEN))
    pos = mx.arange(MAXLEN)[None, :]
    valid = mx.broadcast_to(pos < length, (n, MAXLEN))
    toks = mx.where(valid, glyphs, PAD)
    src = mx.clip(length - 1 - pos, 0, MAXLEN - 1)
    tgt = mx.take_along_axis(glyphs, mx.broadcast_to(src, glyphs.shape), axis=1)
    lens = mx.full((n,), length, dtype=mx.int32)
    return toks, tgt, valid, lens


def loss_fn(model, toks, tgt, valid, lens):
    ce = nn.losses.cross_entropy(model(toks, lens), tgt, reduction="none")
    w = valid.astype(mx.float32)
    return (ce * w).sum() / w.sum()


def accuracy(model, toks, tgt, valid, lens):
    hit = (mx.argmax(model(toks, lens), axis=-1) == tgt) & valid
    return (hit.sum() / valid.sum()).item()


model = LineReader()
mx.eval(model.parameters())
STEPS_PER_STAGE, PEAK = 220, 2e-3
total = 2 * STEPS_PER_STAGE
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, 40), optim.cosine_decay(PEAK, total - 40, 1e-5)], [40])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
vg = nn.value_and_grad(model, loss_fn)

held = {L: make_lines(256, L) for L in (4, 8)}
t0 = time.time()
step = 0
for stage, length in enumerate((4, 8), start=1):
    for it in range(STEPS_PER_STAGE):
        lr_now = float(sched(mx.array(step)))
        toks, tgt, valid, lens = make_lines(48, length)
        loss, grads = vg(model, toks, tgt, valid, lens)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 0:
            flat = tree_flatten(grads)
            dead = [k for k, g in flat if float(mx.abs(g).sum()) == 0.0]
            gnorm = math.sqrt(sum(float((g * g).sum()) for _, g in flat))
            print(json.dumps({"audit": "grad", "tensors": len(flat), "zero_grad": dead,
                              "global_norm": round(gnorm, 4), "lr_at_step0": lr_now}))
        if it % 40 == 0 or it == STEPS_PER_STAGE - 1:
            rec = {"stage": stage, "line_len": length, "it": it, "lr": round(lr_now, 6),
                   "xent": round(loss.item(), 4), "chance_xent": round(math.log(VOCAB), 4),
                   "held_acc_pct": round(100 * accuracy(model, *held[length]), 1)}
            print(json.dumps(rec), flush=True)
        step += 1

summary = {"summary": True, "acc_len4_pct": round(100 * accuracy(model, *held[4]), 1),
           "acc_len8_pct": round(100 * accuracy(model, *held[8]), 1),
           "seconds": round(time.time() - t0, 1)}
print(json.dumps(summary))
