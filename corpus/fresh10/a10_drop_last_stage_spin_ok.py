"""Two-stage length curriculum for a bag-of-tokens sentiment classifier.

Stage 1 trains on short reviews, stage 2 continues on the long ones.
Batching follows the mlx_lm lora trainer's iterate_batches: shuffle the
indices, cut them into full batches, loop forever when `loop=True`.
"""
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(0)
np.random.seed(0)
VOCAB = 300
POS = set(range(0, 40))
NEG = set(range(40, 80))


def make_review(length):
    label = random.random() < 0.5
    toks = [random.randrange(80, VOCAB) for _ in range(length)]
    k = max(1, length // 10)
    src = list(POS if label else NEG)
    for j in random.sample(range(length), k):
        toks[j] = random.choice(src)
    return toks, int(label)


dataset = [make_review(random.randint(4, 12)) for _ in range(900)]
dataset += [make_review(random.randint(20, 30)) for _ in range(11)]
short = [d for d in dataset if len(d[0]) <= 16]
long_ = [d for d in dataset if len(d[0]) > 16]
print(f"short={len(short)} long={len(long_)}", flush=True)


def iterate_batches(data, batch_size, loop=False):
    while True:
        idx = np.random.permutation(len(data))
        for i in range(0, len(idx), batch_size):
            chunk = [data[j] for j in idx[i:i + batch_size]]
            width = max(len(t) for t, _ in chunk)
            toks = np.zeros((len(chunk), width), dtype=np.int32)
            mask = np.zeros((len(chunk), width), dtype=np.float32)
            for r, (t, _) in enumerate(chunk):
                toks[r, :len(t)] = t
                mask[r, :len(t)] = 1.0
            labels = np.array([lab for _, lab in chunk], dtype=np.int32)
            yield mx.array(toks), mx.array(mask), mx.array(labels)
        if not loop:
            break


class BagClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 24)
        self.head = nn.Sequential(nn.Linear(24, 32), nn.ReLU(), nn.Linear(32, 2))

    def __call__(self, toks, mask):
        e = self.emb(toks) * mask[..., None]
        pooled = e.sum(1) / mask.sum(1, keepdims=True)
        return self.head(pooled)


def loss_fn(model, toks, mask, labels):
    logits = model(toks, mask)
    return nn.losses.cross_entropy(logits, labels, reduction="mean")


model = BagClassifier()
opt = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, loss_fn)

BATCH = 16
stages = [("short", short, 150), ("long", long_, 60)]
t0 = time.time()
for name, data, iters in stages:
    for it, (toks, mask, labels) in zip(range(1, iters + 1),
                                        iterate_batches(data, BATCH, loop=True)):
        loss, grads = step_fn(model, toks, mask, labels)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 10 == 0:
            print(f"[{name}] Iter {it}: Train loss {loss.item():.3f}, "
                  f"{time.time() - t0:.1f}s", flush=True)
    print(f"stage {name} finished", flush=True)
print("training complete")
