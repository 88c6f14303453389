import math
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

# event vocabulary: 0..11 NOTE_ON(pitch class), 12..15 TIME_SHIFT(1..4)
VOCAB = 16
SEQ = 24
rng = np.random.default_rng(3)
pattern = np.array([0, 4, 7, 4])


def make_phrases(n):
    out = np.zeros((n, SEQ + 1), dtype=np.int32)
    for i in range(n):
        root = rng.integers(0, 12)
        toks = []
        k = 0
        while len(toks) < SEQ + 1:
            toks.append(int((root + pattern[k % 4]) % 12))
            toks.append(12 + int(rng.integers(0, 2)))  # shift of 1 or 2: one bit of noise
            k += 1
        out[i] = toks[: SEQ + 1]
    return out


class EventGRU(nn.Module):
    def __init__(self, dim=48):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, dim)
        self.rnn = nn.GRU(dim, dim)
        self.out = nn.Linear(dim, VOCAB)

    def __call__(self, x):
        return self.out(self.rnn(self.emb(x)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


# floor: the time-shift tokens carry ln 2 nats each, note tokens after the first bar are determined
floor = 0.5 * math.log(2)
mx.random.seed(1)
model = EventGRU()
sched = optim.join_schedules([optim.linear_schedule(0.0, 4e-3, 30), optim.cosine_decay(4e-3, 270, 4e-4)], [30])
opt = optim.Adam(learning_rate=sched)
step_fn = nn.value_and_grad(model, loss_fn)
val = mx.array(make_phrases(256))
t0 = time.time()
for bar in range(1, 301):
    batch = mx.array(make_phrases(32))
    loss, g = step_fn(model, batch[:, :-1], batch[:, 1:])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    if bar % 30 == 0:
        v = loss_fn(model, val[:, :-1], val[:, 1:]).item()
        print(f"bar {bar:03d} | lr {opt.learning_rate.item():.2e} | train {loss.item():.3f} | val {v:.3f} | floor {floor:.3f} | uniform {math.log(VOCAB):.3f}")
print(f"done in {time.time()-t0:.1f}s, val gap to floor {v - floor:+.3f}")
