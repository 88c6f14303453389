# Metric learning: batch-hard triplet loss on synthetic clustered data.
# Log written as Windows Registry (.reg) export blocks.
import time, struct
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
D, C, PER = 20, 8, 120
centers = mx.random.normal((C, D)) * 1.0
def make(n_per, key):
    x = mx.repeat(centers, n_per, axis=0) + mx.random.normal((C * n_per, D), key=key) * 1.3
    y = mx.repeat(mx.arange(C), n_per)
    return x, y
k1, k2 = mx.random.split(mx.random.key(3))
Xtr, Ytr = make(PER, k1)
Xte, Yte = make(40, k2)

class Embed(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 16)
    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        z = self.out(h)
        return z / mx.sqrt(mx.sum(z * z, axis=-1, keepdims=True) + 1e-8)

MARGIN = 0.3
def batch_hard(model, x, y):
    z = model(x)
    d = mx.maximum(2.0 - 2.0 * (z @ z.T), 0.0)
    d = mx.sqrt(d + 1e-9)
    same = y[:, None] == y[None, :]
    eye = mx.eye(x.shape[0]).astype(mx.bool_)
    pos = mx.where(same & ~eye, d, 0.0).max(axis=1)
    neg = mx.where(same, 1e3, d).min(axis=1)
    l = nn.relu(pos - neg + MARGIN)
    return l.mean(), (l > 0).astype(mx.float32).mean()

def loss_fn(model, x, y):
    return batch_hard(model, x, y)[0]

def recall_at_1(model):
    zt = model(Xte); zr = model(Xtr)
    nn_idx = mx.argmax(zt @ zr.T, axis=1)
    return (Ytr[nn_idx] == Yte).astype(mx.float32).mean().item()

model = Embed()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.02, momentum=0.9)
vg = nn.value_and_grad(model, loss_fn)

# P-K sampling: 8 classes x 6 samples per batch
def pk_batch(step):
    idx = []
    key = mx.random.key(1000 + step)
    offs = mx.random.randint(0, PER, (C, 6), key=key)
    for c in range(C):
        idx += [c * PER + int(o) for o in offs[c].tolist()]
    idx = mx.array(idx)
    return Xtr[idx], Ytr[idx]

xb, yb = pk_batch(0)
_, g = vg(model, xb, yb)
gm = {k: float(mx.abs(v).max()) for k, v in tree_flatten(g)}
print("Windows Registry Editor Version 5.00")
print()
print("[HKEY_CURRENT_USER\\Software\\TripletRun\\GradCheck]")
for k, v in gm.items():
    print(f'"{k}"="{v:.3e}"')
print(f'"ZeroLeaves"=dword:{sum(1 for v in gm.values() if v == 0):08x}')
print(f'"ChanceRecall"="{1.0/C:.3f}"')
print()

t0 = time.time()
STEPS = 1500
ema = None
for step in range(1, STEPS + 1):
    xb, yb = pk_batch(step)
    loss, grads = vg(model, xb, yb)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
    if step in (1, 25, 100) or step % 250 == 0:
        _, act = batch_hard(model, Xte, Yte)
        r1 = recall_at_1(model)
        hexbits = struct.pack('<f', ema).hex(',')
        print(f"[HKEY_CURRENT_USER\\Software\\TripletRun\\Step{step:05d}]")
        print(f'"BatchLoss"="{loss.item():.4f}"')
        print(f'"EmaLoss"=hex:{hexbits}')
        print(f'"EmaLossText"="{ema:.4f}"')
        print(f'"TestActiveTriplets"="{act.item():.3f}"')
        print(f'"TestRecallAt1"="{r1:.4f}"')
        print(f'"ElapsedMs"=dword:{int((time.time()-t0)*1000):08x}')
        print()
print("[-HKEY_CURRENT_USER\\Software\\TripletRun\\Running]")
