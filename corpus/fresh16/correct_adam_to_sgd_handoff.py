"""Character-bigram classifier trained Adam-first, then handed over to plain SGD
(SWATS-style switch) for the second half. At the hand-off a brand-new optimizer with
no state takes over, so the loss wobbles for a few dozen steps before it keeps falling.
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(21)
mx.random.seed(21)

# synthetic 8-class "language id": each class has its own bigram distribution
K, V, L = 8, 27, 16
trans = rng.dirichlet(np.full(V, 4.0), size=(K, V))


def sample(n):
    y = rng.integers(0, K, n)
    x = np.empty((n, L), dtype=np.int32)
    x[:, 0] = rng.integers(0, V, n)
    for t in range(1, L):
        p = trans[y, x[:, t - 1]]
        c = p.cumsum(1)
        x[:, t] = (rng.random((n, 1)) < c).argmax(1)
    return mx.array(x), mx.array(y.astype(np.int32))


class BigramBag(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V * V, 32)
        self.out = nn.Linear(32, K)

    def __call__(self, x):
        pairs = x[:, :-1] * V + x[:, 1:]
        return self.out(self.emb(pairs).mean(axis=1))


model = BigramBag()
mx.eval(model.parameters())
x_val, y_val = sample(600)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
TOTAL, SWITCH = 800, 400
opt, name = optim.Adam(learning_rate=1e-3), "adam"
ema = None
for step in range(1, TOTAL + 1):
    if step == SWITCH + 1:
        opt, name = optim.SGD(learning_rate=2.0), "sgd"
        print(f"--- step {step}: switching optimizer adam -> sgd (fresh state) ---")
    x, y = sample(64)
    loss, g = vg(model, x, y)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
    if step % 40 == 0 or SWITCH < step <= SWITCH + 10:
        acc = (mx.argmax(model(x_val), axis=1) == y_val).mean().item()
        print(f"{name:>4} step {step:4d}  loss {loss.item():.4f}  ema {ema:.4f}  val_acc {acc:.3f}")
