# Dirichlet regression for compositional data (3-part mixtures that sum to 1),
# logged in the style of `go test -v` because the rest of our tooling is Go.
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(11)
mx.random.seed(11)

D_IN, K = 4, 3


def lgamma(x):
    # shift-by-5 Stirling series: lgamma(x) = lgamma(x+5) - log(x(x+1)...(x+4))
    shift = mx.log(x) + mx.log(x + 1) + mx.log(x + 2) + mx.log(x + 3) + mx.log(x + 4)
    z = x + 5.0
    st = (z - 0.5) * mx.log(z) - z + 0.5 * math.log(2 * math.pi)
    st = st + 1.0 / (12 * z) - 1.0 / (360 * z ** 3) + 1.0 / (1260 * z ** 5)
    return st - shift


# --- synthetic compositions -------------------------------------------------
W_true = mx.array([[1.2, -0.8, 0.0], [0.0, 0.9, -0.6], [-0.5, 0.0, 0.7], [0.3, 0.3, -0.6]])
PREC_TRUE = 25.0


def simulate(n):
    x = mx.random.normal((n, D_IN))
    mean = mx.softmax(x @ W_true, axis=-1)
    alpha = (mean * PREC_TRUE).tolist()
    ys = []
    for a in alpha:
        g = [random.gammavariate(ai, 1.0) for ai in a]
        s = sum(g)
        ys.append([max(gi / s, 1e-6) for gi in g])
    y = mx.array(ys)
    y = y / y.sum(axis=-1, keepdims=True)
    return x, y


x_tr, y_tr = simulate(3000)
x_va, y_va = simulate(800)


class DirichletReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D_IN, 32), nn.SiLU(), nn.Linear(32, K))
        self.log_prec = mx.array([1.0])  # learned global precision (log scale)

    def __call__(self, x):
        mean = mx.softmax(self.body(x), axis=-1)
        return mean, mx.exp(self.log_prec)


def nll(model, x, y):
    mean, prec = model(x)
    alpha = mean * prec
    ll = lgamma(alpha.sum(-1)) - lgamma(alpha).sum(-1) + ((alpha - 1) * mx.log(y)).sum(-1)
    return -ll.mean()


model = DirichletReg()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
vg = nn.value_and_grad(model, nll)

_, g0 = vg(model, x_tr[:256], y_tr[:256])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"    dirichlet_test.go:61: grad leaves={len(tree_flatten(g0))} all-zero={zero}")

BS = 100
EPOCHS = 14
n = x_tr.shape[0]
for ep in range(1, EPOCHS + 1):
    name = f"TestFit/epoch_{ep:02d}"
    print(f"=== RUN   {name}")
    t0 = time.time()
    perm = mx.random.permutation(n)
    last = None
    for i in range(0, n, BS):
        idx = perm[i:i + BS]
        loss, grads = vg(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        last = loss.item()
    v = nll(model, x_va, y_va).item()
    mean, prec = model(x_va)
    mae = mx.abs(mean - y_va).mean().item()
    print(f"--- PASS: {name} ({time.time() - t0:.2f}s)")
    print(f"    dirichlet_test.go:88: last_batch_nll={last:.4f} val_nll={v:.4f} "
          f"val_mae_props={mae:.4f} precision={prec.item():.2f} (true {PREC_TRUE:.0f})")
print("PASS")
print(f"ok  \tgithub.com/example/compositional\t{EPOCHS} epochs")
