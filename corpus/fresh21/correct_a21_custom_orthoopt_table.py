# A hand-rolled Muon-style optimizer (subclass of mlx.optimizers.Optimizer): momentum on 2-D weight
# matrices is orthogonalised with a quintic Newton-Schulz iteration; biases and the LayerNorm use a
# plain sign-free Adam-like rule. Trains a 4-class MLP on noisy interleaved spirals.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def newton_schulz(G, steps=5):
    a, b, c = 3.4445, -4.7750, 2.0315
    X = G / (mx.linalg.norm(G) + 1e-7)
    transposed = X.shape[0] > X.shape[1]
    if transposed:
        X = X.T
    for _ in range(steps):
        A = X @ X.T
        B = b * A + c * (A @ A)
        X = a * X + B @ X
    return X.T if transposed else X


class OrthoMomentum(optim.Optimizer):
    def __init__(self, learning_rate, momentum=0.95, vec_lr=3e-3, betas=(0.9, 0.99), eps=1e-8):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.momentum = momentum
        self.vec_lr = vec_lr
        self.betas = betas
        self.eps = eps

    def init_single(self, parameter, state):
        if parameter.ndim == 2:
            state["buf"] = mx.zeros_like(parameter)
        else:
            state["m"] = mx.zeros_like(parameter)
            state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        if parameter.ndim == 2:
            buf = self.momentum * state["buf"] + gradient
            state["buf"] = buf
            g = gradient + self.momentum * buf          # nesterov
            o = newton_schulz(g)
            scale = max(1.0, parameter.shape[0] / parameter.shape[1]) ** 0.5
            return parameter - self.learning_rate.astype(parameter.dtype) * scale * o
        b1, b2 = self.betas
        m = b1 * state["m"] + (1 - b1) * gradient
        v = b2 * state["v"] + (1 - b2) * gradient * gradient
        state["m"], state["v"] = m, v
        return parameter - self.vec_lr * m / (mx.sqrt(v) + self.eps)


def spirals(n_per, k=4, noise=0.25, seed=0):
    mx.random.seed(seed)
    xs, ys = [], []
    for c in range(k):
        t = mx.linspace(0.3, 3.5, n_per)
        ang = t + 2 * math.pi * c / k
        pts = mx.stack([t * mx.cos(ang), t * mx.sin(ang)], axis=1)
        xs.append(pts + noise * mx.random.normal(pts.shape))
        ys.append(mx.full((n_per,), c))
    return mx.concatenate(xs), mx.concatenate(ys).astype(mx.int32)


X, Y = spirals(600, seed=1)
Xv, Yv = spirals(200, seed=2)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(2, 128)
        self.norm = nn.LayerNorm(128)
        self.hid = nn.Linear(128, 128)
        self.out = nn.Linear(128, 4)

    def __call__(self, x):
        h = nn.relu(self.norm(self.inp(x)))
        return self.out(nn.relu(self.hid(h)))


mx.random.seed(7)
net = Net()
opt = OrthoMomentum(learning_rate=optim.cosine_decay(0.02, 600, end=0.002))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y).mean()


grad_fn = nn.value_and_grad(net, loss_fn)

print(f"{'step':>6} {'batch_ce':>9} {'val_ce':>8} {'val_acc':>8} {'lr':>8} {'sec':>6}")
print("-" * 52)
t0 = time.time()
for step in range(1, 601):
    idx = mx.random.randint(0, X.shape[0], (96,))
    loss, grads = grad_fn(net, X[idx], Y[idx])
    opt.update(net, grads)
    mx.eval(net.parameters(), opt.state)
    if step % 50 == 0 or step == 1:
        logits = net(Xv)
        vce = nn.losses.cross_entropy(logits, Yv).mean().item()
        vacc = (mx.argmax(logits, axis=1) == Yv).mean().item()
        print(f"{step:>6} {loss.item():>9.4f} {vce:>8.4f} {vacc:>8.3f} {opt.learning_rate.item():>8.4f} {time.time()-t0:>6.1f}")
print("-" * 52)
