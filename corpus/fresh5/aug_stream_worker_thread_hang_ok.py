"""Small conv-free image-ish classifier with a background augmentation thread.

Batches are prepared (noise + random flips) on a separate MLX stream in a worker
thread so the next batch is ready while the current step runs.
"""
import queue
import threading
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
N, D, C = 2048, 16, 4
protos = mx.random.normal((C, D))
labels = mx.random.randint(0, C, (N,))
images = protos[labels] + 0.5 * mx.random.normal((N, D))
mx.eval(images, labels)

BATCH = 64
STEPS_PER_EPOCH = N // BATCH
EPOCHS = 6

def augment_worker(out_q):
    aug_stream = mx.new_stream(mx.cpu)   # dedicated stream for augmentation work
    for epoch in range(EPOCHS):
        perm = mx.random.permutation(N)
        for s in range(STEPS_PER_EPOCH):
            idx = perm[s * BATCH:(s + 1) * BATCH]
            with mx.stream(aug_stream):
                x = images[idx]
                flip = mx.random.bernoulli(0.5, (BATCH, 1))
                x = mx.where(flip, x[:, ::-1], x) + 0.05 * mx.random.normal(x.shape)
                y = labels[idx]
                mx.eval(x, y)
            out_q.put((x, y))
    out_q.put(None)


model = nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, C))
opt = optim.SGD(learning_rate=0.05, momentum=0.9)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


value_grad = nn.value_and_grad(model, loss_fn)

batches = queue.Queue(maxsize=8)
threading.Thread(target=augment_worker, args=(batches,), daemon=True).start()

t0 = time.time()
step, running = 0, 0.0
while True:
    item = batches.get()
    if item is None:
        break
    x, y = item
    loss, grads = value_grad(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    running += loss.item()
    step += 1
    if step % STEPS_PER_EPOCH == 0:
        print(f"[epoch {step // STEPS_PER_EPOCH}] step {step:4d}  loss={running / STEPS_PER_EPOCH:.4f}"
              f"  ({time.time() - t0:.1f}s)", flush=True)
        running = 0.0
print("training finished")
