"""Sequence classifier with generalized-mean (GeM) pooling over time.

GeM: pool(x) = mean(x ** p) ** (1 / p) with a learnable exponent p (p=1 is
average pooling, p->inf is max pooling). Features come from a ReLU projection.
"""
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

T, F, H, K = 16, 8, 32, 4


class GeM(nn.Module):
    def __init__(self, p=3.0, eps=1e-6):
        super().__init__()
        self.p = mx.array([p])
        self.eps = eps

    def __call__(self, x):  # x: (B, T, H), non-negative
        return mx.mean(mx.maximum(x, self.eps) ** self.p, axis=1) ** (1.0 / self.p)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(F, H)
        self.pool = GeM()
        self.head = nn.Linear(H, K)

    def __call__(self, x):
        return self.head(self.pool(nn.relu(self.proj(x))))


def make_data(n, seed):
    k1, k2, k3 = mx.random.split(mx.random.key(seed), 3)
    y = mx.random.randint(0, K, (n,), key=k1)
    centers = mx.random.normal((K, F), key=mx.random.key(99))
    x = 0.8 * mx.random.normal((n, T, F), key=k2) + centers[y][:, None, :]
    spikes = (mx.random.uniform(shape=(n, T, 1), key=k3) < 0.1) * 2.0
    return x + spikes * centers[y][:, None, :], y


def main():
    mx.random.seed(5)
    xtr, ytr = make_data(1536, 1)
    xte, yte = make_data(384, 2)
    model = Net()
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-3)
    lf = lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean")
    vg = nn.value_and_grad(model, lf)
    bs = 32
    nb = xtr.shape[0] // bs
    for epoch in range(1, 9):
        perm = mx.random.permutation(xtr.shape[0])
        for b in range(nb):
            idx = perm[b * bs : (b + 1) * bs]
            loss, g = vg(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            if (b + 1) % 12 == 0:
                sys.stdout.write(f"\repoch {epoch} [{b + 1:>2}/{nb}] loss={loss.item():.4f} p={model.pool.p.item():.3f}")
                sys.stdout.flush()
        acc = (mx.argmax(model(xte), axis=1) == yte).mean().item()
        print(f"\repoch {epoch} [{nb}/{nb}] loss={loss.item():.4f} p={model.pool.p.item():.3f} test_acc={acc:.3f}")


if __name__ == "__main__":
    main()
