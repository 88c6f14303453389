"""Character-level LSTM trained through a small reusable `train_model` helper.

The helper is shared by a classifier (one label per sequence) and this
next-character model (one target per position), so it must handle logits of
shape (batch, seq, vocab).
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

TEXT = ("the quick brown fox jumps over the lazy dog. "
        "a stitch in time saves nine. "
        "all that glitters is not gold. "
        "better late than never. ") * 6


class CharLSTM(nn.Module):
    def __init__(self, vocab, emb=24, hidden=48):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden)
        self.linear = nn.Linear(hidden, vocab)

    def __call__(self, x):
        h, _ = self.lstm(self.embedding(x))
        return self.linear(h)


def train_model(model, X, y, epochs=50, learning_rate=0.01):
    """Generic full-batch trainer used by every notebook model."""
    optimizer = optim.Adam(learning_rate=learning_rate)

    def loss_fn(model, X, y):
        logits = model(mx.array(X))
        # Handle different output shapes
        if len(logits.shape) == 3 and len(y.shape) == 1:
            logits = logits[:, -1, :]
        return mx.mean(nn.losses.cross_entropy(logits, mx.array(y)))

    loss_and_grad_fn = nn.value_and_grad(model, loss_fn)
    history = []
    for epoch in range(epochs):
        loss, grads = loss_and_grad_fn(model, X, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)

        logits = model(mx.array(X))
        if len(logits.shape) == 3 and len(y.shape) == 1:
            logits = logits[:, -1, :]
        acc = mx.mean(mx.argmax(logits, axis=-1) == mx.array(y)).item()
        history.append(loss.item())
        if epoch % 10 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch + 1:3d}/{epochs}  loss {loss.item():.4f}  "
                  f"ppl {np.exp(loss.item()):7.2f}  char-acc {acc:.3f}")
    return history


def main():
    chars = sorted(set(TEXT))
    c2i = {c: i for i, c in enumerate(chars)}
    ids = np.array([c2i[c] for c in TEXT], dtype=np.int32)
    seq = 16
    starts = np.arange(0, len(ids) - seq - 1, 3)
    X = np.stack([ids[s:s + seq] for s in starts])
    y = np.stack([ids[s + 1:s + seq + 1] for s in starts])   # one target per position
    print(f"vocab={len(chars)}  sequences={X.shape}  targets={y.shape}")

    mx.random.seed(0)
    model = CharLSTM(len(chars))
    t0 = time.time()
    hist = train_model(model, X, y, epochs=60, learning_rate=0.02)
    print(f"done in {time.time() - t0:.1f}s  first loss {hist[0]:.3f} -> last {hist[-1]:.3f}")


if __name__ == "__main__":
    main()
