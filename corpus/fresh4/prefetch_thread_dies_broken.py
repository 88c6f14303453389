"""Sequence regressor fed by a background prefetch thread that builds numpy batches
(MLX arrays are made on the main thread)."""
import queue
import random
import threading

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

random.seed(0)
mx.random.seed(0)
SEQ, FEAT, BATCH = 12, 4, 32
N_SAMPLES = 1000  # not a multiple of BATCH
data = [[random.uniform(-1, 1) for _ in range(SEQ * FEAT)] for _ in range(N_SAMPLES)]


def producer(q, epochs):
    for _ in range(epochs):
        random.shuffle(data)
        for i in range(0, N_SAMPLES, BATCH):
            rows = data[i:i + BATCH]
            x = np.asarray(rows, dtype=np.float32).reshape(BATCH, SEQ, FEAT)
            y = x[:, :, 0].sum(axis=1, keepdims=True)
            q.put((x, y))
    q.put(None)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(FEAT, 24)
        self.out = nn.Linear(24, 1)

    def __call__(self, x):
        h, _ = self.rnn(x)
        return self.out(h[:, -1])


model = Model()
opt = optim.AdamW(learning_rate=3e-3)
vg = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))

q = queue.Queue(maxsize=8)
threading.Thread(target=producer, args=(q, 3), daemon=True).start()
step = 0
while True:
    item = q.get()
    if item is None:
        break
    x, y = mx.array(item[0]), mx.array(item[1])
    loss, g = vg(model, x, y)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    step += 1
    if step % 10 == 0:
        print(f"step {step}: mse {loss.item():.4f}", flush=True)
print("done after", step, "steps")
