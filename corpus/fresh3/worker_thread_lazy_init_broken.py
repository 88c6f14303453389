"""'Train' button of a small app: the model and data are built on the main thread, the training
runs in a background worker thread, and the main thread shows progress from a queue."""
import queue
import threading
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)
X = mx.random.normal((512, 12))
Y = (X[:, :3].sum(axis=1) > 0).astype(mx.int32)
model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 2))
progress = queue.Queue()


def train_job(epochs=300):
    opt = optim.Adam(learning_rate=1e-2)
    lg = nn.value_and_grad(
        model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
    try:
        for epoch in range(1, epochs + 1):
            for i in range(0, 512, 64):
                loss, grads = lg(model, X[i:i + 64], Y[i:i + 64])
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state)
            acc = (model(X).argmax(axis=1) == Y).mean().item()
            progress.put({"epoch": epoch, "loss": loss.item(), "acc": acc})
        progress.put("done")
    finally:
        mx.clear_streams()  # free this thread's MLX streams before the thread ends


worker = threading.Thread(target=train_job)
t0 = time.time()
worker.start()
print("Queued background training job.")
while True:
    msg = progress.get()
    if msg == "done":
        break
    if msg["epoch"] % 25 == 0:
        print(f"[{time.time() - t0:5.1f}s] epoch {msg['epoch']:2d}  loss {msg['loss']:.4f}  "
              f"acc {msg['acc']:.3f}")
worker.join()
print("training finished")
