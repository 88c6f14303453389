"""Keyword-spotting style classifier (tiny KWT-like transformer) on synthetic
spectrogram patches. Trains for a few epochs, reports train loss/acc and
validation accuracy per epoch."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

np.random.seed(0)
mx.random.seed(0)

N_CLASSES, T, F = 6, 12, 10
N_TRAIN, N_VAL, BATCH, EPOCHS = 1024, 256, 32, 6


def make_split(n):
    protos = np.random.RandomState(42).randn(N_CLASSES, T, F).astype(np.float32)
    y = np.random.randint(0, N_CLASSES, size=n)
    x = protos[y] + 1.4 * np.random.randn(n, T, F).astype(np.float32)
    return x, y.astype(np.int32)


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.norm1 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.norm2 = nn.LayerNorm(dim)

    def __call__(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h)
        x = x + self.ff(self.norm2(x))
        return x


class KWT(nn.Module):
    def __init__(self, dim=32, depth=2, heads=4):
        super().__init__()
        self.proj = nn.Linear(F, dim)
        self.pos = mx.random.normal((T, dim)) * 0.02
        self.blocks = [Block(dim, heads) for _ in range(depth)]
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, N_CLASSES)

    def __call__(self, x):
        x = self.proj(x) + self.pos
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x).mean(axis=1))


def loss_fn(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean"), logits


def eval_fn(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=1) == y)


def batch_iterate(x, y, bs, shuffle=True):
    idx = np.random.permutation(len(y)) if shuffle else np.arange(len(y))
    for s in range(0, len(y) - bs + 1, bs):
        ids = idx[s : s + bs]
        yield mx.array(x[ids]), mx.array(y[ids])


def train_epoch(model, optimizer, xtr, ytr, epoch):
    grad_fn = nn.value_and_grad(model, loss_fn)
    losses, accs = [], []
    for batch_counter, (x, y) in enumerate(batch_iterate(xtr, ytr, BATCH)):
        (loss, logits), grads = grad_fn(model, x, y)
        optimizer.update(model, grads)
        acc = mx.mean(mx.argmax(logits, axis=1) == y)
        mx.eval(model.parameters(), optimizer.state, loss, acc)
        losses.append(loss.item())
        accs.append(acc.item())
        if batch_counter % 16 == 0:
            print(f"Epoch {epoch:02d} [{batch_counter:03d}] loss {losses[-1]:.3f} acc {accs[-1]:.3f}")
    return float(np.mean(losses)), float(np.mean(accs))


def main():
    xtr, ytr = make_split(N_TRAIN)
    xva, yva = make_split(N_VAL)
    model = KWT()
    mx.eval(model.parameters())
    optimizer = optim.AdamW(learning_rate=5e-4, weight_decay=0.01)
    for epoch in range(EPOCHS):
        model.train(True)
        tic = time.perf_counter()
        tr_loss, tr_acc = train_epoch(model, optimizer, xtr, ytr, epoch)
        model.train(False)
        va_acc = np.mean([eval_fn(model, x, y).item() for x, y in batch_iterate(xva, yva, 128, False)])
        print(f"Epoch: {epoch} | avg. Train loss {tr_loss:.3f} | avg. Train acc {tr_acc:.3f} "
              f"| Val acc {va_acc:.3f} | {time.perf_counter() - tic:.2f}s")


if __name__ == "__main__":
    main()
