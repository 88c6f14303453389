"""Char-bigram language model with an asynchronous metrics logger thread, so that the
training loop never blocks on .item(); the queue is flushed at the end of every epoch."""
import json
import queue
import threading
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

text = ("the quick brown fox jumps over the lazy dog while the small cat sleeps on the warm mat "
        "and the old owl watches the dark wood from the tall tree ") * 40
vocab = sorted(set(text))
stoi = {c: i for i, c in enumerate(vocab)}
ids = mx.array([stoi[c] for c in text])
V = len(vocab)
inputs, targets = ids[:-1], ids[1:]

model = nn.Sequential(nn.Embedding(V, 32), nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, V))
opt = optim.Adam(learning_rate=1e-2)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)

log_q = queue.Queue()
records = []


def metrics_logger():
    while True:
        epoch, step, loss = log_q.get()
        records.append({"epoch": epoch, "step": step, "nll": round(loss.item(), 4)})
        log_q.task_done()


threading.Thread(target=metrics_logger, daemon=True).start()

BS, N = 256, inputs.shape[0]
t0 = time.time()
for epoch in range(1, 9):
    perm = mx.random.permutation(N)
    for step, i in enumerate(range(0, N - BS + 1, BS)):
        idx = perm[i:i + BS]
        loss, grads = step_fn(model, inputs[idx], targets[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        log_q.put((epoch, step, loss))
    log_q.join()                       # make sure every metric of this epoch is recorded
    ep = [r["nll"] for r in records if r["epoch"] == epoch]
    print(json.dumps({"epoch": epoch, "mean_nll": round(sum(ep) / len(ep), 4),
                      "steps": len(ep), "elapsed_s": round(time.time() - t0, 1)}), flush=True)
