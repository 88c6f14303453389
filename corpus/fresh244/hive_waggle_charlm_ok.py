import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

# Waggle-dance run logs: each token is one observed run (angle bucket + duration bucket).
# A forager repeats a dance figure whose next run depends on the previous two runs.


class LSTM(nn.Module):
    def __init__(self, input_dims: int, hidden_dims: int):
        super().__init__()
        self.sigmoid = nn.Sigmoid()
        self.tanh = nn.Tanh()
        self.W1 = nn.Linear(input_dims + hidden_dims, hidden_dims)  # forget
        self.W2 = nn.Linear(input_dims + hidden_dims, hidden_dims)  # input
        self.W3 = nn.Linear(input_dims + hidden_dims, hidden_dims)  # cell
        self.W4 = nn.Linear(input_dims + hidden_dims, hidden_dims)  # output

    def __call__(self, x, prev_state):
        c, h = prev_state
        x = mx.concatenate((h, x), axis=1)
        g1 = self.sigmoid(self.W1(x))
        g2 = self.sigmoid(self.W2(x))
        g3 = self.tanh(self.W3(x))
        g4 = self.sigmoid(self.W4(x))
        c_cur = mx.add(mx.multiply(c, g1), mx.multiply(g2, g3))
        h_cur = mx.multiply(g4, self.tanh(c_cur))
        return c_cur, h_cur


class WaggleLM(nn.Module):
    def __init__(self, vocab_size: int, hidden_dims: int):
        super().__init__()
        self.hidden_dims = hidden_dims
        self.embedding = nn.Embedding(vocab_size, hidden_dims)
        self.cell = LSTM(hidden_dims, hidden_dims)
        self.fc = nn.Linear(hidden_dims, vocab_size)

    def __call__(self, x):
        batch_size, seq_len = x.shape
        e = self.embedding(x)
        c = mx.zeros((batch_size, self.hidden_dims))
        h = mx.zeros((batch_size, self.hidden_dims))
        outputs = []
        for t in range(seq_len):
            c, h = self.cell(e[:, t, :], (c, h))
            outputs.append(h)
        return self.fc(mx.stack(outputs, axis=1))


VOCAB = 12
SEQ = 16
HIDDEN = 32
BATCH = 32


def make_dances(rng, n):
    # second-order rule: next = (a * prev + b * prevprev + k) % VOCAB, with per-colony (a, b, k)
    rules = [(1, 1, 3), (2, 1, 5), (1, 3, 7), (3, 2, 1)]
    out = np.zeros((n, SEQ + 1), dtype=np.int32)
    for i in range(n):
        a, b, k = rules[rng.integers(len(rules))]
        s = list(rng.integers(0, VOCAB, size=2))
        while len(s) < SEQ + 1:
            s.append((a * s[-1] + b * s[-2] + k) % VOCAB)
        out[i] = s
    return out


def loss_fn(model, X, y):
    logits = model(X)
    return mx.mean(nn.losses.cross_entropy(logits, y))


def eval_fn(model, data):
    losses, accs = [], []
    for s in range(0, len(data) - BATCH + 1, BATCH):
        X, y = mx.array(data[s:s + BATCH, :-1]), mx.array(data[s:s + BATCH, 1:])
        logits = model(X)
        losses.append(mx.mean(nn.losses.cross_entropy(logits, y)).item())
        # skip the first 4 positions: the rule is not yet identifiable there
        accs.append(mx.mean(mx.argmax(logits[:, 4:], axis=-1) == y[:, 4:]).item())
    return float(np.mean(losses)), float(np.mean(accs))


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    train = make_dances(rng, 1280)
    val = make_dances(rng, 256)

    model = WaggleLM(VOCAB, HIDDEN)
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=3e-3)
    loss_and_grad_fn = nn.value_and_grad(model, loss_fn)

    print(f"uniform baseline loss {np.log(VOCAB):.3f}")
    for epoch in range(8):
        tic = time.perf_counter()
        perm = rng.permutation(len(train))
        losses = []
        for s in range(0, len(train) - BATCH + 1, BATCH):
            b = train[perm[s:s + BATCH]]
            X, y = mx.array(b[:, :-1]), mx.array(b[:, 1:])
            loss, grads = loss_and_grad_fn(model, X, y)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state)
            losses.append(loss.item())
        val_loss, val_acc = eval_fn(model, val)
        toc = time.perf_counter()
        print(f"Epoch: {epoch} | Loss: {np.mean(losses):.3f} | Val loss: {val_loss:.3f} | "
              f"Val acc: {val_acc:.3f} | Time: {toc - tic:.2f}s")


if __name__ == "__main__":
    print("Starting training...")
    main()
