"""Input-convex neural network (ICNN) fit to noisy samples of a convex
potential  f(x) = logsumexp(A x) + 0.25 |x|^2  in 4-D.

The z-path weights are kept non-negative by projecting them after every
optimizer step (hand-written projection, not a clamp inside the forward),
so the network stays convex in x.  The log is a gettext .po catalogue:
one msgid per report, msgstr holds the numbers.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
DIM, H = 4, 32
A = rng.normal(size=(6, DIM)).astype(np.float32)


def target(x):
    z = x @ A.T
    m = z.max(axis=1, keepdims=True)
    return (m[:, 0] + np.log(np.exp(z - m).sum(axis=1))) + 0.25 * (x ** 2).sum(axis=1)


X_tr = rng.uniform(-2, 2, size=(2048, DIM)).astype(np.float32)
Y_tr = (target(X_tr) + 0.05 * rng.normal(size=2048)).astype(np.float32)
X_te = rng.uniform(-2, 2, size=(512, DIM)).astype(np.float32)
Y_te = target(X_te).astype(np.float32)
X_tr, Y_tr, X_te, Y_te = map(mx.array, (X_tr, Y_tr, X_te, Y_te))


class ICNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.x0 = nn.Linear(DIM, H)
        self.x1 = nn.Linear(DIM, H)
        self.x2 = nn.Linear(DIM, 1)
        # z-path ("passthrough") weights, must stay >= 0
        self.z1 = mx.abs(mx.random.normal((H, H))) * (1.0 / H)
        self.z2 = mx.abs(mx.random.normal((1, H))) * (1.0 / H)

    def __call__(self, x):
        z = nn.softplus(self.x0(x))
        z = nn.softplus(z @ self.z1.T + self.x1(x))
        return (z @ self.z2.T + self.x2(x))[:, 0]


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def project(model):
    model.z1 = mx.maximum(model.z1, 0.0)
    model.z2 = mx.maximum(model.z2, 0.0)


mx.random.seed(3)
model = ICNN()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.02, momentum=0.9)
step_fn = nn.value_and_grad(model, mse)


def po(msgid, msgstr):
    print(f'msgid "{msgid}"')
    print(f'msgstr "{msgstr}"')
    print()


print('# ICNN training catalogue')
print('msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n')
n, bs, epochs = X_tr.shape[0], 32, 90
for epoch in range(1, epochs + 1):
    perm = mx.array(np.random.default_rng(epoch).permutation(n))
    tot, cnt = 0.0, 0
    for i in range(0, n, bs):
        idx = perm[i:i + bs]
        loss, grads = step_fn(model, X_tr[idx], Y_tr[idx])
        opt.update(model, grads)
        project(model)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); cnt += 1
    if epoch % 10 == 0 or epoch == 1:
        te = mse(model, X_te, Y_te).item()
        neg = int((model.z1 < 0).sum().item() + (model.z2 < 0).sum().item())
        po(f"epoch {epoch}", f"train_mse={tot / cnt:.4f} test_mse={te:.4f} negative_z_weights={neg}")
