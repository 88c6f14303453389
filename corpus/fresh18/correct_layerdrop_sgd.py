"""Residual MLP classifier trained with stochastic depth (LayerDrop), plain SGD.

On every training step each residual block is skipped with probability 0.4, so the
skipped blocks get exactly zero gradient and (plain SGD, no momentum, no weight decay)
stay bit-for-bit unchanged on that step. Over the run every block is trained.
Prints a plain text table every 100 steps.
"""
import random
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(3)
rng = np.random.default_rng(3)
mx.random.seed(3)

# 4-class "rings" data
def make(n):
    r = rng.uniform(0, 4, size=n)
    t = rng.uniform(0, 2 * np.pi, size=n)
    x = np.stack([r * np.cos(t), r * np.sin(t)], 1) + 0.1 * rng.normal(size=(n, 2))
    return x.astype(np.float32), np.minimum(r.astype(np.int32), 3)

Xtr, ytr = make(3000)
Xva, yva = make(600)

class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 2 * d)
        self.fc2 = nn.Linear(2 * d, d)

    def __call__(self, h):
        return h + self.fc2(nn.gelu(self.fc1(self.norm(h))))

class Net(nn.Module):
    def __init__(self, d=32, depth=6):
        super().__init__()
        self.inp = nn.Linear(2, d)
        self.blocks = [Block(d) for _ in range(depth)]
        self.out = nn.Linear(d, 4)

    def __call__(self, x, keep=None):
        h = self.inp(x)
        for i, b in enumerate(self.blocks):
            if keep is None or keep[i]:
                h = b(h)
        return self.out(h)

model = Net()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.05)

def loss_fn(m, xb, yb, keep):
    return mx.mean(nn.losses.cross_entropy(m(xb, keep), yb))

vg = nn.value_and_grad(model, loss_fn)
P_DROP = 0.4
print(f"{'step':>6} | {'blocks on':>9} | {'train_ce':>8} | {'val_acc':>7}")
print("-" * 42)
run = []
for step in range(1, 1001):
    keep = [random.random() > P_DROP for _ in model.blocks]
    idx = rng.integers(0, len(Xtr), size=64)
    loss, grads = vg(model, mx.array(Xtr[idx]), mx.array(ytr[idx]), keep)
    opt.update(model, grads)
    mx.eval(model.parameters(), loss)
    run.append(loss.item())
    if step % 100 == 0:
        acc = mx.mean(mx.argmax(model(mx.array(Xva)), axis=1) == mx.array(yva)).item()
        print(f"{step:>6} | {''.join('x' if k else '.' for k in keep):>9} | {np.mean(run):8.4f} | {acc:7.3f}")
        run = []
