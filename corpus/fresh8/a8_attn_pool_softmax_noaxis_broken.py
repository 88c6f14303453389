# Sequence classifier with attention pooling (token scores -> softmax -> weighted sum).
# Toy task: 16-token sequences over a 40-word vocab; label = which of 4 "keyword"
# tokens appears in the sequence (exactly one keyword per sequence).
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)

VOCAB, SEQ, NCLS, DIM = 40, 16, 4, 32
rng = np.random.default_rng(7)


def make_split(n):
    x = rng.integers(NCLS, VOCAB, size=(n, SEQ))
    y = rng.integers(0, NCLS, size=n)
    pos = rng.integers(0, SEQ, size=n)
    x[np.arange(n), pos] = y
    return mx.array(x), mx.array(y)


xtr, ytr = make_split(2048)
xte, yte = make_split(512)


class AttnPoolClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.proj = nn.Linear(DIM, DIM)
        self.score = nn.Linear(DIM, 1)
        self.head = nn.Linear(DIM, NCLS)

    def __call__(self, x):
        h = nn.gelu(self.proj(self.emb(x)))          # (B, L, D)
        s = self.score(h)                             # (B, L, 1)
        w = mx.expand_dims(mx.softmax(mx.squeeze(s, axis=-1)), axis=-1)
        pooled = (w * h).sum(axis=1)                  # (B, D)
        return self.head(pooled)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = AttnPoolClassifier()
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
step = nn.value_and_grad(model, loss_fn)
BS = 64

t0 = time.time()
for epoch in range(1, 9):
    perm = mx.array(rng.permutation(xtr.shape[0]))
    tot = 0.0
    nb = 0
    for i in range(0, xtr.shape[0], BS):
        idx = perm[i:i + BS]
        loss, grads = step(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    logits = model(xte)
    val_loss = loss_fn(model, xte, yte).item()
    acc = (mx.argmax(logits, axis=-1) == yte).mean().item()
    print(f"epoch {epoch} | train_ce {tot / nb:.4f} | val_ce {val_loss:.4f} | val_acc {acc:.3f}")
print(f"done in {time.time() - t0:.1f}s")
