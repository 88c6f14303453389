"""Orchard packhouse: grade apples (sound / light bruise / deep bruise) from 24-band NIR
reflectance, with a ternary-weight (quantisation-aware) first layer trained through a
straight-through estimator (w + stop_gradient(q(w) - w)). Loss reported in BITS per fruit.
Compiled step with explicit inputs/outputs state; a '\r' progress bar per epoch."""
import sys, time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

LN2 = float(np.log(2.0))
rng = np.random.default_rng(5)
bands = np.linspace(700, 1100, 24)

def spectra(n):
    grade = rng.integers(0, 3, n)
    depth = np.where(grade == 0, 0, np.where(grade == 1, rng.uniform(0.2, 0.5, n), rng.uniform(0.5, 1, n)))
    base = 0.55 + 0.1 * np.tanh((bands - 760) / 30)[None, :] + rng.normal(0, 0.03, (n, 1))
    water = np.exp(-((bands - 970) / 25) ** 2)[None, :]
    brown = np.exp(-((bands - 720) / 40) ** 2)[None, :]
    X = base - 0.12 * depth[:, None] * water - 0.08 * depth[:, None] ** 2 * brown
    X = X * rng.uniform(0.85, 1.15, (n, 1)) + rng.normal(0, 0.012, (n, 24))
    X = X / X.mean(1, keepdims=True)          # scatter normalisation
    return X.astype(np.float32), grade.astype(np.int32)

Xtr, ytr = spectra(16000)
Xte, yte = spectra(3000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd

class TernaryLinear(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.weight = mx.random.normal((dout, din)) * (1.0 / din ** 0.5)
        self.bias = mx.zeros((dout,))
    def quantised(self):
        w = self.weight
        scale = mx.mean(mx.abs(w))
        q = mx.where(w > 0.5 * scale, scale, mx.where(w < -0.5 * scale, -scale, 0.0))
        return w + mx.stop_gradient(q - w)   # forward: q, backward: identity
    def __call__(self, x):
        return x @ self.quantised().T + self.bias

class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.q1 = TernaryLinear(24, 96)
        self.l2 = nn.Linear(96, 96)
        self.head = nn.Linear(96, 3)
    def __call__(self, x):
        return self.head(nn.relu(self.l2(nn.relu(self.q1(x)))))

mx.random.seed(5)
model = Grader()
opt = optim.Adam(learning_rate=2e-3)

def loss_fn(x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

# gradient check on the uncompiled function first
loss0, g0 = nn.value_and_grad(model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))(
    model, mx.array(Xtr[:128]), mx.array(ytr[:128]))
flat = tree_flatten(g0)
nz = [k for k, g in flat if mx.any(g != 0).item()]
print(f"initial loss {loss0.item() / LN2:.3f} bits/fruit (uniform guess = {np.log2(3):.3f}); "
      f"{len(nz)}/{len(flat)} tensors get gradient")

state = [model.state, opt.state]

@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, lambda m, a, b: nn.losses.cross_entropy(m(a), b, reduction="mean"))(model, x, y)
    opt.update(model, grads)
    return loss

def evaluate():
    logits = model(mx.array(Xte))
    ce = nn.losses.cross_entropy(logits, mx.array(yte), reduction="mean").item() / LN2
    acc = (mx.argmax(logits, 1) == mx.array(yte)).astype(mx.float32).mean().item()
    return ce, acc

B, n = 128, len(ytr)
nb = n // B
t0 = time.time()
print(f"{'epoch':>5} {'train_bits':>10} {'test_bits':>9} {'test_acc%':>9} {'zero_w%':>8} {'secs':>6}")
for epoch in range(1, 21):
    perm = rng.permutation(n)
    run = 0.0
    for b in range(nb):
        idx = perm[b * B:(b + 1) * B]
        loss = step(mx.array(Xtr[idx]), mx.array(ytr[idx]))
        mx.eval(state, loss)
        run += loss.item()
        if b % 25 == 0 or b == nb - 1:
            done = (b + 1) / nb
            bar = "#" * int(30 * done) + "." * (30 - int(30 * done))
            sys.stdout.write(f"\r  [{bar}] {b + 1}/{nb} bits {run / (b + 1) / LN2:.3f}")
            sys.stdout.flush()
    sys.stdout.write("\r" + " " * 70 + "\r")
    te_bits, te_acc = evaluate()
    q = model.q1.quantised()
    zero_share = (q == 0).astype(mx.float32).mean().item()
    print(f"{epoch:5d} {run / nb / LN2:10.4f} {te_bits:9.4f} {100 * te_acc:9.2f} {100 * zero_share:8.1f} {time.time() - t0:6.1f}")
print(f"done: test accuracy {100 * evaluate()[1]:.2f}% with a ternary first layer "
      f"(levels {sorted(set(np.round(np.array(q).ravel(), 5).tolist()))})")
