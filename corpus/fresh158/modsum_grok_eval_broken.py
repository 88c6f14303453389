# Grokking-style modular addition with a tiny transformer (MLX).
# Trains on half of all (a + b) mod p pairs, reports train/val loss & accuracy per epoch.
import argparse
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

parser = argparse.ArgumentParser()
parser.add_argument('--p', type=int, default=23)
parser.add_argument('--train_fraction', type=float, default=0.8)
parser.add_argument('--depth', type=int, default=1)
parser.add_argument('--dim', type=int, default=64)
parser.add_argument('--heads', type=int, default=4)
parser.add_argument('--dropout', type=float, default=0.5)
parser.add_argument('--lr', type=float, default=1e-3)
parser.add_argument('--weight_decay', type=float, default=1.0)
parser.add_argument('--batch_size', type=int, default=128)
parser.add_argument('--epochs', type=int, default=40)
parser.add_argument('--seed', type=int, default=42)
args = parser.parse_args()


def grokking_data(p, train_fraction=0.5):
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing='ij')
    a, b = a.ravel(), b.ravel()
    X = np.stack([a, np.full_like(a, p), b, np.full_like(a, p + 1)], axis=1)
    T = (a + b) % p
    inds = np.random.permutation(X.shape[0])
    n_train = int(train_fraction * X.shape[0])
    tr, te = inds[:n_train], inds[n_train:]
    return (mx.array(X[tr]), mx.array(T[tr]), mx.array(X[te]), mx.array(T[te]))


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.norm = nn.RMSNorm(dim)
        self.wq = nn.Linear(dim, dim, bias=False)
        self.wk = nn.Linear(dim, dim, bias=False)
        self.wv = nn.Linear(dim, dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)
        self.rope = nn.RoPE(dim // heads, traditional=True, base=1e6)

    def __call__(self, x, mask):
        b, n, d = x.shape
        x = self.norm(x)
        q, k, v = self.wq(x), self.wk(x), self.wv(x)
        r = lambda t: t.reshape(b, n, self.heads, -1).transpose(0, 2, 1, 3)
        q, k, v = r(q), r(k), r(v)
        q, k = self.rope(q), self.rope(k)
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask=mask)
        return self.wo(o.transpose(0, 2, 1, 3).reshape(b, n, -1))


class FeedForward(nn.Module):
    def __init__(self, dim, mlp_dim, dropout):
        super().__init__()
        self.norm = nn.RMSNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.w1 = nn.Linear(dim, mlp_dim, bias=False)
        self.w2 = nn.Linear(mlp_dim, dim, bias=False)
        self.w3 = nn.Linear(dim, mlp_dim, bias=False)

    def __call__(self, x):
        x = self.norm(x)
        return self.w2(self.dropout(nn.silu(self.w1(x))) * self.w3(x))


class Block(nn.Module):
    def __init__(self, dim, heads, seq_len, dropout):
        super().__init__()
        self.attn = Attention(dim, heads)
        self.ff = FeedForward(dim, dim * 4, dropout)
        self._mask = mx.triu(mx.full((seq_len, seq_len), -float('inf')), k=1)

    def __call__(self, x):
        x = x + self.attn(x, self._mask)
        return x + self.ff(x)


class Transformer(nn.Module):
    def __init__(self, depth, dim, heads, n_tokens, seq_len, dropout):
        super().__init__()
        self.embedding = nn.Embedding(n_tokens, dim)
        self.layers = nn.Sequential(*[Block(dim, heads, seq_len, dropout) for _ in range(depth)])
        self.norm = nn.RMSNorm(dim)
        self.out = nn.Linear(dim, n_tokens, bias=False)

    def __call__(self, x):
        x = self.norm(self.layers(self.embedding(x)))
        return self.out(x[:, -1])


class NeuralNetwork:
    def __init__(self, model, optimizer, batch_size=64):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = nn.losses.cross_entropy
        self.batch_size = batch_size

    def _make_batches(self, X, T):
        for i in range(0, X.shape[0], self.batch_size):
            yield X[i:i + self.batch_size], T[i:i + self.batch_size]

    def eval_fn(self, X, T):
        Y = self.model(X)
        loss = self.loss_fn(Y, T, reduction='mean')
        correct = mx.sum(mx.argmax(Y, axis=1) == T)
        return loss, correct

    def train(self, train_data, val_data, epochs=5):
        state = [self.model.state, self.optimizer.state, mx.random.state]

        @partial(mx.compile, inputs=state, outputs=state)
        def step(X, T):
            train_step_fn = nn.value_and_grad(self.model, self.eval_fn)
            (loss, correct), grads = train_step_fn(X, T)
            self.optimizer.update(self.model, grads)
            return loss, correct

        for epoch in range(epochs):
            self.model.train()
            inds = mx.array(np.random.permutation(train_data[0].shape[0]))
            train_data = [v[inds] for v in train_data]
            total_loss, total_correct = 0.0, 0
            for X, T in self._make_batches(*train_data):
                loss, correct = step(X, T)
                mx.eval(state)
                total_loss += loss.item() * X.shape[0]
                total_correct += correct.item()
            n = train_data[0].shape[0]
            val_loss, val_acc = self.evaluate(val_data)
            print(f"Training: epoch {epoch + 1:3d}/{epochs} | train_loss={total_loss / n:.3f}, "
                  f"train_acc={total_correct / n:.3f}, val_loss={val_loss:.3f}, val_acc={val_acc:.3f}",
                  flush=True)
        return val_loss, val_acc

    def evaluate(self, test_data):
        total_loss, total_correct = 0.0, 0
        for X, T in self._make_batches(*test_data):
            Y = self.model(X)
            loss = self.loss_fn(Y, T, reduction='mean')
            correct = mx.sum(mx.argmax(Y, axis=1) == T)
            total_loss += loss.item() * X.shape[0]
            total_correct += correct.item()
        return total_loss / test_data[0].shape[0], total_correct / test_data[0].shape[0]


def main():
    np.random.seed(args.seed)
    mx.random.seed(args.seed)
    Xtr, Ttr, Xte, Tte = grokking_data(args.p, args.train_fraction)
    print(f"Xtrain {Xtr.shape} Xtest {Xte.shape}")
    model = Transformer(args.depth, args.dim, args.heads, args.p + 2, 4, args.dropout)
    mx.eval(model.parameters())
    optimizer = optim.AdamW(learning_rate=args.lr, weight_decay=args.weight_decay,
                            betas=[0.9, 0.98])
    net = NeuralNetwork(model, optimizer, batch_size=args.batch_size)
    t0 = time.time()
    net.train((Xtr, Ttr), (Xte, Tte), epochs=args.epochs)
    # second look at the held-out split with the final weights
    val_loss, val_acc = net.evaluate((Xte, Tte))
    print(f"final test: loss {val_loss:.4f} acc {val_acc:.4f} ({time.time() - t0:.1f}s)")


if __name__ == '__main__':
    main()
