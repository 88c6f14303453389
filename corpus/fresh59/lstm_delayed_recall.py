"""Delayed-recall copy task with an LSTM.

Input: 5 random symbols (alphabet of 6), then DELAY blank steps, then a 'go'
marker followed by 5 blanks; the net must output the 5 symbols during the last
5 steps. Loss = cross-entropy on the recall positions only.
Every 100 updates we print, per recall position, held-out accuracy in tenths
(one digit per position: 9 = >=90%), then the mean.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

K, N_SYM, DELAY = 5, 6, 4
BLANK, GO = N_SYM, N_SYM + 1
VOCAB = N_SYM + 2
T = K + DELAY + 1 + K
rng = np.random.default_rng(11)


def make_batch(b):
    sym = rng.integers(0, N_SYM, (b, K))
    x = np.full((b, T), BLANK, dtype=np.int32)
    x[:, :K] = sym
    x[:, K + DELAY] = GO
    return mx.array(x), mx.array(sym.astype(np.int32))


class Recaller(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 16)
        self.rnn = nn.LSTM(16, hidden)
        self.out = nn.Linear(hidden, N_SYM)

    def __call__(self, x):
        h, _ = self.rnn(self.emb(x))
        return self.out(h[:, -K:, :])      # logits for the recall window


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


mx.random.seed(0)
model = Recaller()
opt = optim.Adam(learning_rate=5e-3)
vg = nn.value_and_grad(model, loss_fn)
xv, yv = make_batch(500)

t0 = time.time()
print(f"delayed recall: K={K} symbols, delay={DELAY}, chance acc={1/N_SYM:.3f}")
for upd in range(1, 601):
    x, y = make_batch(64)
    loss, g = vg(model, x, y)
    if upd == 1:
        dead = [k for k, v in tree_flatten(g) if not mx.any(v != 0).item()]
        print("grad check (step 1): all", len(tree_flatten(g)), "leaves non-zero" if not dead else f"zero: {dead}")
    g, gnorm = optim.clip_grad_norm(g, 5.0)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    if upd % 100 == 0:
        pred = mx.argmax(model(xv), axis=-1)
        acc_pos = (pred == yv).astype(mx.float32).mean(axis=0)
        digits = "".join(str(min(int(a * 10), 9)) for a in acc_pos.tolist())
        print(f"u{upd:04d} loss={loss.item():.3f} |g|={gnorm.item():6.2f} pos[{digits}] mean_acc={acc_pos.mean().item():.3f}")
print(f"done in {time.time()-t0:.1f}s")
