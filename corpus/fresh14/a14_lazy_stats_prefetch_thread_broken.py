"""Classifier with a background prefetch thread that standardises batches while the
main thread trains.  tqdm-like progress line per epoch."""
import queue
import sys
import threading
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)
N, D, K = 4096, 20, 5
proto = mx.random.normal((K, D)) * 3.0
y_all = mx.random.randint(0, K, (N,))
X_all = proto[y_all] * mx.random.uniform(0.5, 2.0, (1, D)) + mx.random.normal((N, D)) * 2.0 + 7.0
mx.eval(X_all, y_all)

# dataset statistics for standardisation
feat_mean = X_all.mean(axis=0)
feat_std = mx.sqrt(X_all.var(axis=0) + 1e-6)

BATCH, EPOCHS = 128, 6
STEPS = N // BATCH


def producer(q):
    for epoch in range(EPOCHS):
        perm = mx.random.permutation(N)
        for s in range(STEPS):
            idx = perm[s * BATCH:(s + 1) * BATCH]
            xb = (X_all[idx] - feat_mean) / feat_std
            yb = y_all[idx]
            mx.eval(xb, yb)
            q.put((xb, yb))
    q.put(None)


q = queue.Queue(maxsize=8)
threading.Thread(target=producer, args=(q,), daemon=True).start()

model = nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, K))
mx.eval(model.parameters())
opt = optim.Lion(learning_rate=3e-4)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y).mean()


vg = nn.value_and_grad(model, loss_fn)
step, epoch, tot, correct, seen = 0, 1, 0.0, 0, 0
t0 = time.time()
while True:
    item = q.get()
    if item is None:
        break
    xb, yb = item
    loss, grads = vg(model, xb, yb)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    step += 1
    tot += loss.item()
    correct += (model(xb).argmax(axis=1) == yb).sum().item()
    seen += xb.shape[0]
    if step % STEPS == 0:
        sys.stdout.write(f"\repoch {epoch}/{EPOCHS} [{STEPS}/{STEPS}] loss={tot / STEPS:.4f} "
                         f"acc={correct / seen:.3f} {time.time() - t0:.1f}s\n")
        sys.stdout.flush()
        epoch, tot, correct, seen = epoch + 1, 0.0, 0, 0
print("training finished")
