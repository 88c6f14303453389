# Byte-level next-token model trained for one pass over a synthetic corpus.
# Reports loss as it goes and the running token accuracy at the end of the pass.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(0)
words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
text = " ".join(rng.choice(words, size=60_000)).encode()
data = np.frombuffer(text, dtype=np.uint8).astype(np.int32)

V, D, B, T = 256, 64, 8, 64
STEPS = 300


class ByteLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.prev = nn.Embedding(V, D)
        self.mlp = nn.Sequential(nn.Linear(2 * D, 128), nn.GELU(), nn.Linear(128, V))

    def __call__(self, x):
        cur = self.emb(x)
        prv = self.prev(mx.pad(x[:, :-1], [(0, 0), (1, 0)]))
        return self.mlp(mx.concatenate([cur, prv], axis=-1))


def batches():
    for _ in range(STEPS):
        starts = rng.integers(0, len(data) - T - 1, size=B)
        chunk = np.stack([data[s:s + T + 1] for s in starts])
        yield mx.array(chunk[:, :-1]), mx.array(chunk[:, 1:])


model = ByteLM()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3)


def loss_fn(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean"), logits


step_fn = nn.value_and_grad(model, loss_fn)

correct = mx.array(0)
seen = 0
t0 = time.time()
for step, (x, y) in enumerate(batches(), start=1):
    (loss, logits), grads = step_fn(model, x, y)
    opt.update(model, grads)
    correct = correct + (mx.argmax(logits, axis=-1) == y).sum()
    seen += y.size
    mx.eval(model.parameters(), opt.state, loss)
    if step % 25 == 0:
        print(f"step {step:3d}/{STEPS}  loss {loss.item():.3f}  ({time.time() - t0:.1f}s)")
print(f"pass done: running token accuracy {correct.item() / seen:.3f}")
