"""Sharpness-Aware Minimization (SAM) around SGD with momentum.

Every step runs two forward/backward passes: the weights are pushed uphill by
rho * g/|g|, the gradient is taken there, the weights are put back, and only
then does the optimizer step with that second gradient.
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

mx.random.seed(21)

# 4-class spiral-ish data
n_per, k = 300, 4
ts = mx.random.uniform(shape=(n_per * k,)) * 3.0
cls = mx.repeat(mx.arange(k), n_per)
ang = ts * 1.6 + cls.astype(mx.float32) * (2 * 3.14159 / k)
X = mx.stack([ts * mx.cos(ang), ts * mx.sin(ang)], axis=1) + 0.12 * mx.random.normal((n_per * k, 2))
Y = cls
perm = mx.random.permutation(n_per * k)
X, Y = X[perm], Y[perm]
Xtr, Ytr, Xte, Yte = X[:960], Y[:960], X[960:], Y[960:]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(2, 64), nn.Linear(64, 64), nn.Linear(64, k)]

    def __call__(self, x):
        for l in self.layers[:-1]:
            x = nn.relu(l(x))
        return self.layers[-1](x)


model = Net()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9)
rho = 0.05


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


vg = nn.value_and_grad(model, ce)


def sam_step(x, y):
    loss, g = vg(model, x, y)
    gnorm = mx.sqrt(sum(mx.sum(v * v) for _, v in tree_flatten(g))) + 1e-12
    w = model.trainable_parameters()
    eps = tree_map(lambda gr: rho * gr / gnorm, g)
    model.update(tree_map(lambda p, e: p + e, w, eps))      # climb to w + eps
    loss_adv, g_adv = vg(model, x, y)
    model.update(w)                                          # back to w
    opt.update(model, g_adv)
    return loss, loss_adv


bs = 64
for epoch in range(1, 13):
    perm = mx.random.permutation(Xtr.shape[0])
    tot, tot_adv, nb = 0.0, 0.0, 0
    for i in range(0, Xtr.shape[0], bs):
        idx = perm[i:i + bs]
        loss, loss_adv = sam_step(Xtr[idx], Ytr[idx])
        mx.eval(model.parameters(), opt.state, loss, loss_adv)
        tot += loss.item(); tot_adv += loss_adv.item(); nb += 1
    acc = mx.mean(mx.argmax(model(Xte), axis=1) == Yte).item()
    print(f"ep {epoch:2d}/12 | ce {tot / nb:.4f} | sharpness {(tot_adv - tot) / nb:+.4f} | test_acc {acc:.3f}")
