# 5-fold cross-validation of a small MLP classifier with MLX.
# Data: noisy 4-class synthetic features; a separate held-out test set at the end.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

rng = np.random.default_rng(7)
D, C, N, NTEST = 16, 4, 640, 800
W_true = rng.normal(size=(D, C))

def make(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    y = np.argmax(x @ W_true, axis=1)
    flip = rng.random(n) < 0.35
    y[flip] = rng.integers(0, C, size=flip.sum())
    return x, y.astype(np.int32)

train_x, train_y = make(N)
test_x, test_y = make(NTEST)

class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 192)
        self.l2 = nn.Linear(192, 192)
        self.out = nn.Linear(192, C)
    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))

def train_epoch(model, optimizer, xs, ys, bs=32):
    def loss_fn(model, X, y):
        logits = model(X)
        return mx.mean(nn.losses.cross_entropy(logits, y)), mx.mean(mx.argmax(logits, axis=1) == y)
    state = [model.state, optimizer.state]
    @partial(mx.compile, inputs=state, outputs=state)
    def step(X, y):
        (loss, acc), grads = nn.value_and_grad(model, loss_fn)(model, X, y)
        optimizer.update(model, grads)
        return loss, acc
    perm = rng.permutation(len(xs))
    losses, accs = [], []
    for i in range(0, len(xs), bs):
        idx = perm[i:i + bs]
        loss, acc = step(mx.array(xs[idx]), mx.array(ys[idx]))
        mx.eval(state)
        losses.append(loss.item()); accs.append(acc.item())
    return float(np.mean(losses)), float(np.mean(accs))

def accuracy(model, xs, ys):
    return mx.mean(mx.argmax(model(mx.array(xs)), axis=1) == mx.array(ys)).item()

def get_partitions(k, n):
    return k, [i for i in range(n) if i != k]

epochs, n_folds = 25, 5
scores = {k: [] for k in range(n_folds)}
t0 = time.perf_counter()
model = Model(); mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=3e-3)
for epoch in range(epochs):
    order = rng.permutation(N)
    parts = np.array_split(order, n_folds)
    for fold in range(n_folds):
        val_idx, train_ids = get_partitions(fold, n_folds)
        tr = np.concatenate([parts[i] for i in train_ids])
        tl, ta = train_epoch(model, optimizer, train_x[tr], train_y[tr])
        va = accuracy(model, train_x[parts[val_idx]], train_y[parts[val_idx]])
        scores[fold].append(va)
        if epoch % 8 == 7 or epoch == epochs - 1:
            print(f"Fold {fold+1} | Epoch {epoch+1:02d} | avg. Train loss {tl:.3f} | avg. Train acc {ta:.3f} | Validation acc {va:.3f}")
models = [model]
cv = float(np.mean([scores[k][-1] for k in range(n_folds)]))
test = float(np.mean([accuracy(m, test_x, test_y) for m in models]))
print(f"cross-validated accuracy {cv:.3f} | held-out test accuracy {test:.3f} | gap {cv - test:+.3f} | {time.perf_counter() - t0:.1f}s")
