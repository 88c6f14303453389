# Delayed-copy memory task with a GRU: read 6 symbols, wait through 6 blanks
# and a GO marker, then reproduce the 6 symbols in order.
import sys
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(5)
K, L, DELAY = 8, 6, 6                 # symbols 0..7, blank = 8, go = 9
BLANK, GO, V = K, K + 1, K + 2
T = L + DELAY + 1 + L


def batch(n):
    sym = mx.random.randint(0, K, (n, L))
    blanks = mx.full((n, DELAY), BLANK, dtype=sym.dtype)
    go = mx.full((n, 1), GO, dtype=sym.dtype)
    tail = mx.full((n, L), BLANK, dtype=sym.dtype)
    return mx.concatenate([sym, blanks, go, tail], axis=1), sym


class Copier(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.emb = nn.Embedding(V, 16)
        self.rnn = nn.GRU(16, hidden)
        self.out = nn.Linear(hidden, K)

    def __call__(self, x):
        h = self.rnn(self.emb(x))
        return self.out(h[:, -L:, :])


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = Copier()
mx.eval(model.parameters())
x0, y0 = batch(128)
_, g0 = nn.value_and_grad(model, loss_fn)(model, x0, y0)
leaves = tree_flatten(g0)
dead = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
print(f"# grad check: {len(leaves)} leaves, dead={dead}", file=sys.stderr)
print(f"chance CE = ln({K}) = {mx.log(mx.array(float(K))).item():.3f}; star = position accuracy >= 0.9")

opt = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, loss_fn)
xv, yv = batch(256)
t0 = time.time()
ema = None
for step in range(1, 601):
    x, y = batch(64)
    loss, grads = step_fn(model, x, y)
    grads, _ = optim.clip_grad_norm(grads, 1.0)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
    if step % 50 == 0:
        pred = mx.argmax(model(xv), axis=-1)
        pos_acc = mx.mean(pred == yv, axis=0).tolist()
        stars = "".join("\u2605" if a >= 0.9 else "\u2606" for a in pos_acc)
        exact = mx.mean(mx.all(pred == yv, axis=1)).item()
        accs = " ".join(f"{a:.2f}" for a in pos_acc)
        print(f"step {step:4d}  ce~{ema:.3f}  {stars}  [{accs}]  exact {exact:.3f}  {time.time() - t0:5.1f}s")
