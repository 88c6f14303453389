"""Token classifier fed by a background prefetch thread (parsing happens off the
main thread so the training step never waits on it)."""
import queue
import random
import sys
import threading

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEQ, VOCAB, BATCH, EPOCHS, STEPS = 24, 64, 32, 4, 60
rng = random.Random(0)


def make_corpus(n):
    """Comma-separated token records, like lines read from a shard file."""
    lines = []
    for i in range(n):
        label = rng.randrange(2)
        lo, hi = (0, 36) if label == 0 else (28, 64)
        toks = [rng.randrange(lo, hi) if rng.random() < 0.25 else rng.randrange(VOCAB)
                for _ in range(SEQ)]
        lines.append((",".join(map(str, toks)), label))
    # one record in the shard was truncated on write
    bad = 3 * STEPS * BATCH // 2
    lines[bad] = (",".join(lines[bad][0].split(",")[:SEQ - 5]), lines[bad][1])
    return lines


CORPUS = make_corpus(EPOCHS * STEPS * BATCH)


def producer(q):
    for start in range(0, len(CORPUS), BATCH):
        toks, labels = [], []
        for line, label in CORPUS[start:start + BATCH]:
            row = np.array(line.split(","), dtype=np.int32).reshape(SEQ)
            toks.append(row)
            labels.append(label)
        q.put((np.stack(toks), np.array(labels, dtype=np.int32)))
    q.put(None)


class BagClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 32)
        self.out = nn.Linear(32, 2)

    def __call__(self, x):
        return self.out(self.emb(x).mean(axis=1))


model = BagClassifier()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(
    model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))

q = queue.Queue(maxsize=8)
threading.Thread(target=producer, args=(q,), daemon=True).start()

step = 0
while True:
    item = q.get()
    if item is None:
        break
    x, y = mx.array(item[0]), mx.array(item[1])
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    step += 1
    epoch, i = divmod(step - 1, STEPS)
    if i % 15 == 14:
        sys.stdout.write(f"epoch {epoch + 1} [{i + 1}/{STEPS}] loss={loss.item():.4f}\n")
        sys.stdout.flush()
print(f"done: {step} steps")
