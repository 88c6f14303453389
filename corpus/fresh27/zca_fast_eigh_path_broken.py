# Decorrelated ("whitening") normalisation layer in a small MLP classifier.
# The layer has a fast path (eigendecomposition) and an iterative fallback
# (Newton-Schulz, IterNorm-style) that is used when the fast path is off.
import json
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(5)


class Whiten(nn.Module):
    def __init__(self, dim, eps=1e-3, iters=6):
        super().__init__()
        self.eps = eps
        self.iters = iters
        self.use_fast_path = True  # eigh-based inverse square root

    def _isqrt_fast(self, cov):
        evals, evecs = mx.linalg.eigh(cov, stream=mx.cpu)
        return (evecs * mx.rsqrt(evals)[None, :]) @ evecs.T

    def _isqrt_iter(self, cov):
        d = cov.shape[0]
        tr = mx.sum(mx.diag(cov))
        a = cov / tr
        p = mx.eye(d)
        for _ in range(self.iters):
            p = 0.5 * (3.0 * p - p @ p @ p @ a)
        return p / mx.sqrt(tr)

    def __call__(self, h):
        hc = h - mx.mean(h, axis=0, keepdims=True)
        cov = hc.T @ hc / h.shape[0] + self.eps * mx.eye(h.shape[1])
        w = self._isqrt_fast(cov) if self.use_fast_path else self._isqrt_iter(cov)
        return hc @ w


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(10, 16)
        self.white = Whiten(16)
        self.hid = nn.Linear(16, 32)
        self.out = nn.Linear(32, 3)

    def __call__(self, x):
        return self.out(nn.relu(self.hid(self.white(self.inp(x)))))


# three classes from correlated, badly scaled features
n = 3000
lab = mx.random.randint(0, 3, (n,))
centers = mx.random.normal((3, 10)) * 1.5
mix = mx.random.normal((10, 10)) * mx.array([5.0, 0.2] * 5)
X = (centers[lab] + mx.random.normal((n, 10))) @ mix
Xtr, ytr, Xte, yte = X[:2400], lab[:2400], X[2400:], lab[2400:]

model = Net()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for epoch in range(12):
    perm = mx.random.permutation(2400)
    losses = []
    for i in range(0, 2400, 100):
        b = perm[i:i + 100]
        loss, grads = vg(model, Xtr[b], ytr[b])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        losses.append(loss.item())
    acc = mx.mean(mx.argmax(model(Xte), axis=1) == yte).item()
    print(json.dumps({"epoch": epoch, "loss": round(sum(losses) / len(losses), 4),
                      "test_acc": round(acc, 4), "sec": round(time.time() - t0, 2)}))
