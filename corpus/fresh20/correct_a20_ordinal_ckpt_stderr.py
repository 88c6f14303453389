"""Ordinal regression (5 ordered grades) with a cumulative-logit (CORAL-style) loss.
Residual blocks are wrapped in mlx.nn.utils.checkpoint (activation recomputation).
All progress goes to stderr, one line every 2 epochs; stdout gets only the final summary."""
import sys
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.nn.utils import checkpoint

K = 5
rng = np.random.default_rng(21)
N, D = 3000, 12
Xn = rng.normal(size=(N, D)).astype(np.float32)
latent = Xn[:, 0] * 1.2 - Xn[:, 1] * 0.8 + np.tanh(Xn[:, 2] * Xn[:, 3]) + 0.4 * rng.normal(size=N)
cuts = np.quantile(latent, [0.2, 0.4, 0.6, 0.8])
Yn = np.searchsorted(cuts, latent).astype(np.int32)
X, Y = mx.array(Xn), mx.array(Yn)
Xtr, Ytr, Xte, Yte = X[:2500], Y[:2500], X[2500:], Y[2500:]


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 2 * d)
        self.fc2 = nn.Linear(2 * d, d)

    def __call__(self, x):
        return x + self.fc2(nn.gelu(self.fc1(self.norm(x))))


class Ordinal(nn.Module):
    def __init__(self, d=64, depth=4):
        super().__init__()
        self.inp = nn.Linear(D, d)
        self.blocks = [Block(d) for _ in range(depth)]
        self.score = nn.Linear(d, 1, bias=False)
        self.thresholds = mx.linspace(-1.5, 1.5, K - 1)

    def __call__(self, x):
        h = self.inp(x)
        for b in self.blocks:
            h = checkpoint(b)(h)
        return self.score(h) - self.thresholds   # (B, K-1) cumulative logits


def loss_fn(m, x, y):
    logits = m(x)
    levels = (mx.arange(K - 1)[None, :] < y[:, None]).astype(mx.float32)  # P(y > k)
    return mx.mean(nn.losses.binary_cross_entropy(logits, levels, with_logits=True))


def predict(m, x):
    return mx.sum(mx.sigmoid(m(x)) > 0.5, axis=1)


model = Ordinal()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=1e-3)
vg = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for ep in range(1, 25):
    perm = mx.array(rng.permutation(2500))
    tot = 0.0
    for i in range(0, 2500, 100):
        idx = perm[i:i + 100]
        l, g = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, l)
        tot += l.item()
    if ep % 2 == 0:
        p = predict(model, Xte)
        mae = mx.mean(mx.abs(p - Yte)).item()
        exact = mx.mean(p == Yte).item()
        sys.stderr.write(f"[ep {ep:02d}] cum-logit bce={tot / 25:.4f} test MAE(grades)={mae:.3f} exact={exact:.3f} t={time.time() - t0:.1f}s\n")
p = predict(model, Xte)
print(f"final: test MAE {mx.mean(mx.abs(p - Yte)).item():.3f} grades, exact {mx.mean(p == Yte).item():.3f}")
