# Character bigram language model on the Zen of Python (stdlib `this`),
# a raw V x V logit table, compiled train step, SGD with momentum.
import codecs, contextlib, io, math, sys, time
from functools import partial
with contextlib.redirect_stdout(io.StringIO()):
    import this as _zen  # silence the poem it prints on import; re-decode it below
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

text = codecs.decode(_zen.s, "rot13")
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
V = len(chars)
lines = [ln + "\n" for ln in text.strip().split("\n")]
va_text = "".join(ln for i, ln in enumerate(lines) if i % 5 == 4)
tr_text = "".join(ln for i, ln in enumerate(lines) if i % 5 != 4)
tr = np.array([stoi[c] for c in tr_text], dtype=np.int32)
va = np.array([stoi[c] for c in va_text], dtype=np.int32)
print(f"\nvocab={V} train_chars={len(tr)} val_chars={len(va)}")


class Bigram(nn.Module):
    def __init__(self, v):
        super().__init__()
        self.logits = mx.zeros((v, v))

    def __call__(self, prev):
        return self.logits[prev]


def nll(model, prev, nxt):
    return nn.losses.cross_entropy(model(prev), nxt, reduction="mean")


mx.random.seed(0)
model = Bigram(V)
opt = optim.SGD(learning_rate=0.3, momentum=0.9, weight_decay=3e-4)

# gradient check at step 0: every leaf must receive a non-zero gradient
g0 = nn.value_and_grad(model, nll)(model, mx.array(tr[:-1]), mx.array(tr[1:]))[1]
assert float(mx.abs(g0["logits"]).sum()) > 0

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(prev, nxt):
    loss, grads = nn.value_and_grad(model, nll)(model, prev, nxt)
    opt.update(model, grads)
    return loss


rng = np.random.default_rng(1)
B = 256
Xtr, Ytr = tr[:-1], tr[1:]
Xva, Yva = mx.array(va[:-1]), mx.array(va[1:])
t0 = time.time()
for it in range(1, 4501):
    j = rng.integers(0, len(Xtr), size=B)
    loss = step(mx.array(Xtr[j]), mx.array(Ytr[j]))
    mx.eval(model.state, opt.state, loss)
    if it % 300 == 0:
        vb = nll(model, Xva, Yva).item() / math.log(2)
        sys.stdout.write(f"\rstep {it:5d}  train {loss.item()/math.log(2):.3f} bits/char  val {vb:.3f} bits/char")
        sys.stdout.flush()
print()

# greedy-ish sample from the learned table
P = mx.softmax(model.logits, axis=-1)
c = stoi["T"]
out = ["T"]
for _ in range(60):
    c = int(mx.random.categorical(mx.log(P[c])).item())
    out.append(chars[c])
print("sample:", repr("".join(out)))
print(f"uniform baseline {math.log2(V):.3f} bits/char; elapsed {time.time()-t0:.1f}s")
