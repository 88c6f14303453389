# Elman RNN learns 4-digit decimal addition, reading the two addends digit pair by digit pair
# (least-significant first) and emitting one sum digit per position (carry must be learned).
# Progress is reported on a WALL-CLOCK cadence (about every 2.5 s), not every N steps.
import sys, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(21)
ND = 4            # digits per addend; the sum has ND + 1 digits
T = ND + 1

def batch(n):
    a = mx.random.randint(0, 10 ** ND, (n,))
    b = mx.random.randint(0, 10 ** ND, (n,))
    s = a + b
    p = 10 ** mx.arange(T)
    da = (a[:, None] // p) % 10
    db = (b[:, None] // p) % 10
    ds = (s[:, None] // p) % 10
    return da, db, ds

class Adder(nn.Module):
    def __init__(self, h=64):
        super().__init__()
        self.ea = nn.Embedding(10, 16)
        self.eb = nn.Embedding(10, 16)
        self.rnn = nn.RNN(32, h)
        self.head = nn.Linear(h, 10)
    def __call__(self, da, db):
        x = mx.concatenate([self.ea(da), self.eb(db)], axis=-1)
        return self.head(self.rnn(x))

def loss_fn(m, da, db, ds):
    return nn.losses.cross_entropy(m(da, db), ds, reduction="mean")

model = Adder()
opt = optim.SGD(learning_rate=0.05, momentum=0.9)
vg = nn.value_and_grad(model, loss_fn)

da, db, ds = batch(512)
_, g = vg(model, da, db, ds)
zero = [k for k, v in tree_flatten(g) if mx.abs(v).max().item() == 0.0]
sys.stderr.write(f"grad check: {len(tree_flatten(g))} leaves, zero-grad leaves: {zero or 'none'}\n")

vda, vdb, vds = batch(1000)
t0 = last = time.time()
ema = None
step = 0
while step < 1600:
    step += 1
    da, db, ds = batch(128)
    loss, grads = vg(model, da, db, ds)
    grads, gn = optim.clip_grad_norm(grads, max_norm=2.0)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
    now = time.time()
    if now - last >= 2.5 or step == 1600:
        last = now
        pred = mx.argmax(model(vda, vdb), axis=-1)
        digit_acc = (pred == vds).mean().item()
        exact = (pred == vds).all(axis=1).mean().item()
        print(f"[t+{now - t0:5.1f}s] step {step:>5}  ce~{ema:.4f}  |g|={gn.item():.3f}  "
              f"digit_acc={digit_acc:.4f}  exact_sum={exact:.4f}", flush=True)
