"""Tiny hand-rolled layer stack (embedding -> linear) trained with manual backprop.

Each layer keeps Param objects holding a value and an accumulated gradient;
the optimizer zeroes the gradients before every step.
"""
import math
import mlx.core as mx


class Param:
    def __init__(self, name, value):
        self.name = name
        self.value = value
        self.grad = mx.zeros_like(value)

    def zero_grad(self):
        self.grad = 0


class Embedding:
    def __init__(self, vocab, dim):
        s = math.sqrt(1.0 / dim)
        self.dim = dim
        self.table = Param("table", mx.random.uniform(-s, s, shape=(vocab, dim)))
        self.params = [self.table]

    def forward(self, idx):
        self.idx = idx
        return self.table.value[idx].reshape(idx.shape[0], -1)

    def backward(self, dout):
        flat_idx = self.idx.reshape(-1)
        dflat = dout.reshape(-1, self.dim)
        for i in range(flat_idx.shape[0]):
            row = int(flat_idx[i])
            self.table.grad[row] += dflat[i]
        return None


class Linear:
    def __init__(self, din, dout):
        s = math.sqrt(1.0 / din)
        self.w = Param("w", mx.random.uniform(-s, s, shape=(din, dout)))
        self.b = Param("b", mx.zeros((dout,)))
        self.params = [self.w, self.b]

    def forward(self, x):
        self.x = x
        return x @ self.w.value + self.b.value

    def backward(self, dout):
        self.w.grad = self.w.grad + self.x.T @ dout
        self.b.grad = self.b.grad + dout.sum(axis=0)
        return dout @ self.w.value.T


def main():
    mx.random.seed(3)
    vocab, dim = 32, 16
    emb = Embedding(vocab, dim)
    head = Linear(dim, 2)
    layers = [emb, head]
    params = [p for l in layers for p in l.params]

    # token id -> target: even ids map to (1, 0), odd ids to (0, 1)
    X = mx.arange(vocab).reshape(-1, 1)
    Y = mx.array([[1.0, 0.0] if i % 2 == 0 else [0.0, 1.0] for i in range(vocab)])
    lr = 0.5

    print(f"{'iter':>5} | {'mse':>10}")
    print("-" * 19)
    for it in range(2001):
        for p in params:
            p.zero_grad()
        h = emb.forward(X)
        pred = head.forward(h)
        diff = pred - Y
        loss = mx.mean(diff ** 2)
        g = 2.0 * diff / diff.size
        g = head.backward(g)
        emb.backward(g)
        for p in params:
            p.value = p.value - lr * p.grad
        mx.eval([p.value for p in params], loss)
        if it % 200 == 0:
            print(f"{it:>5} | {loss.item():>10.6f}")

    final = mx.mean((head.forward(emb.forward(X)) - Y) ** 2).item()
    print(f"final mse {final:.6f}")


if __name__ == "__main__":
    main()
