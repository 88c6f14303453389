# Shape-note singing school: a tiny masked-syllable model that learns to restore
# faded fa/sol/la/mi syllables in hand-copied tune books.
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
SYL = ["fa", "sol", "la", "mi"]
PAD, MASK, BOS, EOS = 0, 1, 2, 3
V = 4 + 4 * 3          # specials + 4 syllables x 3 octaves
L = 24

# made-up tune grammar: order-2 chain over (syllable, octave) with strong stepwise motion
n_notes = 12
trans = rng.dirichlet(np.full(n_notes, 0.15), size=(n_notes, n_notes))
for a in range(n_notes):
    for b in range(n_notes):
        trans[a, b, (b + 1) % n_notes] += 1.5
        trans[a, b, (b - 1) % n_notes] += 1.0
trans /= trans.sum(-1, keepdims=True)

def tune(n):
    out = [int(rng.integers(n_notes)), int(rng.integers(n_notes))]
    while len(out) < n:
        out.append(int(rng.choice(n_notes, p=trans[out[-2], out[-1]])))
    return out

def book(n_tunes):
    X = np.full((n_tunes, L), PAD, dtype=np.int32)
    for i in range(n_tunes):
        k = int(rng.integers(12, L - 1))
        X[i, 0] = BOS
        X[i, 1:k + 1] = np.array(tune(k)) + 4
        if k + 1 < L:
            X[i, k + 1] = EOS
    return X

train_X, test_X = book(3000), book(400)

def corrupt(X, rate, r):
    notes = X >= 4
    pick = (r.random(X.shape) < rate) & notes
    u = r.random(X.shape)
    inp = X.copy()
    inp[pick & (u < 0.8)] = MASK
    rnd = pick & (u >= 0.8) & (u < 0.9)
    inp[rnd] = r.integers(4, V, size=int(rnd.sum()))
    return inp, pick

class SingingMaster(nn.Module):
    def __init__(self, d=64, heads=4, layers=1):
        super().__init__()
        self.tok = nn.Embedding(V, d)
        self.pos = nn.Embedding(L, d)
        self.enc = nn.TransformerEncoder(layers, d, heads, mlp_dims=128)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, V)

    def __call__(self, x):
        keep = (x != PAD)
        bias = mx.where(keep[:, None, None, :], 0.0, -1e9).astype(mx.float32)
        h = self.tok(x) + self.pos(mx.arange(x.shape[1]))
        h = self.enc(h, bias)
        return self.head(self.norm(h))

def mlm_loss(model, inp, tgt, pick):
    logits = model(inp)
    ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
    w = pick.astype(mx.float32)
    return (ce * w).sum() / mx.maximum(w.sum(), 1.0)

model = SingingMaster()
mx.eval(model.parameters())
print(f"params: {sum(v.size for _, v in tree_flatten(model.parameters()))}")

steps, batch = 240, 32
warm = 30
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, steps - warm, 1e-5)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
step_fn = nn.value_and_grad(model, mlm_loss)

# baselines on the held-out book: uniform over notes, and note-frequency guess
note_counts = np.bincount(train_X[train_X >= 4], minlength=V)[4:]
p_uni = note_counts / note_counts.sum()
test_rng = np.random.default_rng(123)
t_inp, t_pick = corrupt(test_X, 0.15, test_rng)
freq_acc = float((test_X[t_pick] == (np.argmax(p_uni) + 4)).mean())
freq_ce = float(-np.log(p_uni[test_X[t_pick] - 4]).mean())
print(f"baselines: uniform ce {math.log(12):.3f} | frequency ce {freq_ce:.3f} acc {freq_acc:.3f}")

def evaluate():
    logits = model(mx.array(t_inp))
    pick = mx.array(t_pick)
    tgt = mx.array(test_X)
    ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
    w = pick.astype(mx.float32)
    ce_m = (ce * w).sum() / w.sum()
    acc = ((mx.argmax(logits, -1) == tgt) * w).sum() / w.sum()
    return ce_m.item(), acc.item()

data_rng = np.random.default_rng(1)
t0 = time.time()
run = []
for step in range(1, steps + 1):
    idx = data_rng.integers(0, len(train_X), batch)
    X = train_X[idx]
    inp, pick = corrupt(X, 0.15, data_rng)
    loss, grads = step_fn(model, mx.array(inp), mx.array(X), mx.array(pick))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run.append(loss.item())
    if step == 1 or step % 40 == 0:
        ce, acc = evaluate()
        lr = sched(mx.array(step - 1)).item()
        print(f"step {step:4d} lr {lr:.2e} train ce {np.mean(run[-50:]):.3f} | held-out ce {ce:.3f} acc {acc:.3f}")

ce, acc = evaluate()
print(f"final held-out masked ce {ce:.3f} (frequency baseline {freq_ce:.3f}), acc {acc:.3f} (baseline {freq_acc:.3f})")
print(f"done in {time.time() - t0:.1f}s")
