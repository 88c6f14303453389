import math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
VOCAB, PAD, MAXLEN, DEPTHS = 3, 2, 24, 7   # tokens: '(' = 0, ')' = 1, pad = 2

def make_strings(n):
    toks = np.full((n, MAXLEN), PAD, np.int32)
    depth = np.zeros((n, MAXLEN), np.int32)
    lens = rng.integers(6, MAXLEN + 1, size=n)
    for i, L in enumerate(lens):
        d = 0
        for t in range(L):
            up = d == 0 or (d < DEPTHS - 1 and rng.random() < 0.5)
            d = d + 1 if up else d - 1
            toks[i, t] = 0 if up else 1
            depth[i, t] = d
    return toks, depth, lens

def slopes(h):
    start = 2 ** (-8.0 / h)
    return mx.array([start ** (i + 1) for i in range(h)])

class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def __call__(self, x, bias):
        B, L, D = x.shape
        q, k, v = mx.split(self.qkv(self.n1(x)), 3, axis=-1)
        sh = lambda a: a.reshape(B, L, self.h, -1).transpose(0, 2, 1, 3)
        a = mx.fast.scaled_dot_product_attention(sh(q), sh(k), sh(v), scale=1 / math.sqrt(D // self.h), mask=bias)
        x = x + self.out(a.transpose(0, 2, 1, 3).reshape(B, L, D))
        return x + self.ff(self.n2(x))

class Tagger(nn.Module):
    def __init__(self, d=48, h=4, layers=2):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, d)
        self.blocks = [Block(d, h) for _ in range(layers)]
        self.head = nn.Linear(d, DEPTHS)
        self.h = h

    def __call__(self, toks):
        L = toks.shape[1]
        pos = mx.arange(L)
        dist = -mx.abs(pos[:, None] - pos[None, :]).astype(mx.float32)
        bias = slopes(self.h)[:, None, None] * dist                      # (H, L, L)
        keymask = mx.where(toks == PAD, -1e9, 0.0)[:, None, None, :]      # (B, 1, 1, L)
        # left-to-right: depth at t depends only on tokens <= t
        causal = mx.where(pos[None, :] > pos[:, None], -1e9, 0.0)
        bias = bias[None] + keymask + causal
        x = self.emb(toks)
        for b in self.blocks:
            x = b(x, bias)
        return self.head(x)

def loss_fn(model, toks, depth):
    logits = model(toks)
    valid = (toks != PAD).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, depth, reduction="none")
    return (ce * valid).sum() / valid.sum()

def accuracy(model, toks, depth):
    pred = mx.argmax(model(toks), axis=-1)
    valid = toks != PAD
    return ((pred == depth) & valid).sum().item() / valid.sum().item()

tr_t, tr_d, _ = make_strings(4000)
va_t, va_d, _ = make_strings(800)
tr_t, tr_d, va_t, va_d = map(mx.array, (tr_t, tr_d, va_t, va_d))
# baseline: always predict the most frequent depth among real tokens
vd = np.array(va_d)[np.array(va_t) != PAD]
base = np.bincount(vd).max() / vd.size
print(f"majority-depth baseline acc {base:.3f}")

mx.random.seed(0)
TOTAL, WARM, BS = 360, 40, 32
# warm-up from exactly 0, then two plateaus (step-down schedule)
sched = optim.join_schedules([optim.linear_schedule(0.0, 1e-3, WARM),
                              optim.step_decay(1e-3, 0.3, 150)], [WARM])

def build():
    m = Tagger()
    o = optim.Lion(learning_rate=sched, weight_decay=0.01)
    return m, o

def run(model, opt, start, stop, ckpt_dir=None):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, tr_t.shape[0], size=BS))
        loss, grads = step_fn(model, tr_t[idx], tr_d[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 40 == 0 or step == stop - 1:
            print(f"step,{step},lr,{opt.learning_rate.item():.2e},loss,{loss.item():.4f},val_acc,{accuracy(model, va_t, va_d):.3f}")

t0 = time.time()
model, opt = build()
print(f"params {sum(v.size for _, v in tree_flatten(model.parameters()))}")
print(f"untrained val_acc {accuracy(model, va_t, va_d):.3f}")
run(model, opt, 0, 180)

# checkpoint, rebuild from scratch, resume
with tempfile.TemporaryDirectory() as d:
    model.save_weights(os.path.join(d, "w.safetensors"))
    mx.save_safetensors(os.path.join(d, "o.safetensors"), dict(tree_flatten(opt.state)))
    before = accuracy(model, va_t, va_d)
    model, opt = build()
    model.load_weights(os.path.join(d, "w.safetensors"))
    from mlx.utils import tree_unflatten
    opt.state = tree_unflatten(list(mx.load(os.path.join(d, "o.safetensors")).items()))
    after = accuracy(model, va_t, va_d)
    print(f"resumed at step 180: val_acc before {before:.3f} after {after:.3f} opt_step {opt.step.item()}")
run(model, opt, 180, TOTAL)
final = accuracy(model, va_t, va_d)
print(f"final val_acc {final:.3f} vs baseline {base:.3f}  ({time.time() - t0:.1f}s)")
