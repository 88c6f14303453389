# Character-level MLP language model (3-char context, Bengio-style, dropout) on the Zen of
# Python text shipped in the stdlib `this` module. Prints a vmstat-like table whose
# header is repeated every 5 rows.
import codecs, sys, io, contextlib, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

with contextlib.redirect_stdout(io.StringIO()):
    import this
text = codecs.decode(this.s, "rot13").lower()
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
V, CTX = len(chars), 3
ids = np.array([stoi[c] for c in text], dtype=np.int32)
ctx = np.stack([ids[i:len(ids) - CTX + i] for i in range(CTX)], 1)
nxt = ids[CTX:]
rng = np.random.default_rng(0)
perm = rng.permutation(len(nxt))
cut = int(0.85 * len(nxt))
tr, va = perm[:cut], perm[cut:]
Xtr, Ytr = mx.array(ctx[tr]), mx.array(nxt[tr])
Xva, Yva = mx.array(ctx[va]), mx.array(nxt[va])
counts = np.bincount(nxt[tr], minlength=V) + 1
uni_bits = float(-(np.log2(counts / counts.sum())[nxt[va]]).mean())

class CharMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 8)
        self.drop = nn.Dropout(0.3)
        self.h = nn.Linear(CTX * 8, 48)
        self.out = nn.Linear(48, V)
    def __call__(self, x):
        e = self.emb(x).reshape(x.shape[0], -1)
        return self.out(self.drop(mx.tanh(self.h(self.drop(e)))))

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

model = CharMLP()
opt = optim.AdamW(learning_rate=optim.step_decay(3e-3, 0.5, 1000), weight_decay=0.3)
vg = nn.value_and_grad(model, loss_fn)
from mlx.utils import tree_flatten
_, g0 = vg(model, Xtr[:64], Ytr[:64])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"corpus {len(text)} chars, vocab {V}, train {cut} / val {len(va)} windows; "
      f"unigram baseline {uni_bits:.3f} bits/char; zero-grad leaves: {zero or 'none'}")
HDR = "  step    lr       trn_bpc  val_bpc  val_acc   sec"
t0 = time.time(); row = 0; ema = None
for step in range(1, 3001):
    idx = mx.array(rng.integers(0, cut, size=64))
    loss, g = vg(model, Xtr[idx], Ytr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    l = loss.item() / math.log(2)
    ema = l if ema is None else 0.98 * ema + 0.02 * l
    if step % 200 == 0:
        if row % 5 == 0:
            print(HDR)
        model.eval()
        logits = model(Xva)
        vb = loss_fn(model, Xva, Yva).item() / math.log(2)
        acc = (mx.argmax(logits, -1) == Yva).mean().item()
        print(f"{step:6d}  {opt.learning_rate.item():.1e}  {ema:7.3f}  {vb:7.3f}  {acc:7.3f}  {time.time()-t0:5.1f}")
        row += 1
        model.train()
