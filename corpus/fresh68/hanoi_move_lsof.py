# Learn the optimal Tower of Hanoi move (from-peg, to-peg: 6 classes) at step m
# from the 12 binary digits of m. Output imitates `lsof`.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

BITS = 12
PAIRS = [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]

def move_of(m):
    src = (m & (m - 1)) % 3
    dst = ((m | (m - 1)) + 1) % 3
    return PAIRS.index((src, dst))

rng = np.random.default_rng(7)
steps = np.arange(1, 2 ** BITS)
X = ((steps[:, None] >> np.arange(BITS)[None, :]) & 1).astype(np.float32) * 2 - 1
Y = np.array([move_of(int(m)) for m in steps], dtype=np.int32)
perm = rng.permutation(len(steps))
tr, te = perm[:3200], perm[3200:]
Xtr, Ytr, Xte, Yte = mx.array(X[tr]), mx.array(Y[tr]), mx.array(X[te]), mx.array(Y[te])

class MoveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(BITS, 128)
        self.mid = nn.Linear(128, 128)
        self.out = nn.Linear(128, 6)
    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(h))
        return self.out(h)

mx.random.seed(3)
model = MoveNet()
opt = optim.Adafactor(learning_rate=3e-3, relative_step=False, scale_parameter=False)

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

loss_and_grad = nn.value_and_grad(model, loss_fn)

def evaluate(x, y):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == y)
    return ce.item(), acc.item()

pid = 41870
print(f"{'COMMAND':<9}{'PID':>6} {'USER':<6}{'FD':>5} {'TYPE':<5}{'DEVICE':>9} {'SIZE/OFF':>10} {'NODE':>6} NAME")
_, g0 = loss_and_grad(model, Xtr[:128], Ytr[:128])
flat = tree_flatten(g0)
zero = [k for k, v in flat if mx.all(v == 0).item()]
ce0, acc0 = evaluate(Xte, Yte)
print(f"{'hanoi':<9}{pid:>6} {'train':<6}{'cwd':>5} {'DIR':<5}{'1,4':>9} {len(tr):>10} {len(te):>6} /data/hanoi?train={len(tr)}&test={len(te)}&classes=6")
print(f"{'hanoi':<9}{pid:>6} {'train':<6}{'mem':>5} {'REG':<5}{'1,4':>9} {len(flat):>10} {len(zero):>6} /proc/gradcheck?leaves={len(flat)}&zero={len(zero)}&zero_names={','.join(zero) or '-'}")
print(f"{'hanoi':<9}{pid:>6} {'train':<6}{'txt':>5} {'REG':<5}{'1,4':>9} {0:>10} {0:>6} /init?test_ce={ce0:.4f}&test_acc={acc0:.3f}&chance_ce={np.log(6):.4f}")

t0 = time.time()
BS = 64
for epoch in range(1, 31):
    order = mx.array(rng.permutation(len(tr)))
    tot, nb = 0.0, 0
    for i in range(0, len(tr) - BS + 1, BS):
        idx = order[i:i + BS]
        loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1
    if epoch in (1, 2, 3) or epoch % 3 == 0:
        ce, acc = evaluate(Xte, Yte)
        fd = f"{epoch}u"
        print(f"{'hanoi':<9}{pid:>6} {'train':<6}{fd:>5} {'REG':<5}{'1,4':>9} {epoch * nb:>10} {epoch:>6} "
              f"/ckpt/epoch{epoch:02d}?train_ce={tot / nb:.4f}&test_ce={ce:.4f}&test_acc={acc:.3f}&t={time.time() - t0:.1f}s")

probe = [1, 2, 3, 4, 1023, 2048, 4095]
px = mx.array(((np.array(probe)[:, None] >> np.arange(BITS)[None, :]) & 1).astype(np.float32) * 2 - 1)
pred = mx.argmax(model(px), axis=1).tolist()
for m, p in zip(probe, pred):
    t = move_of(m)
    print(f"{'hanoi':<9}{pid:>6} {'probe':<6}{'rd':>5} {'FIFO':<5}{'0,12':>9} {m:>10} {int(p == t):>6} "
          f"pipe:[step {m}: model {PAIRS[p][0]}->{PAIRS[p][1]} rule {PAIRS[t][0]}->{PAIRS[t][1]}]")
