# bonsai nursery notebook: what happens to a branch 8 weeks after it is wired
#   0 = sets well, 1 = wire bite / scarring, 2 = die-back
# features: wire gauge, turns per cm, bend angle, branch diameter, season week,
#           species vigour, watering score  (all synthetic)
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

np.random.seed(7)
mx.random.seed(7)


def notebook(n):
    gauge = np.random.uniform(1.0, 4.0, n)
    turns = np.random.uniform(0.3, 1.5, n)
    bend = np.random.uniform(0.0, 90.0, n)
    diam = np.random.uniform(2.0, 12.0, n)
    week = np.random.uniform(0.0, 52.0, n)
    vigour = np.random.uniform(0.0, 1.0, n)
    water = np.random.uniform(0.0, 1.0, n)
    growth = vigour * (0.5 + 0.5 * np.sin(2 * np.pi * (week - 10) / 52))
    bite = 1.6 * growth * turns * gauge / 2.5 - 0.9
    stress = (bend / 45.0) ** 2 * (diam / 7.0) - 0.8 * water + 0.2
    logits = np.stack([np.zeros(n), 2.2 * bite, 2.0 * stress], 1) + np.random.gumbel(size=(n, 3)) * 0.6
    y = logits.argmax(1).astype(np.int32)
    X = np.stack([gauge / 2.5 - 1, turns - 0.9, bend / 45 - 1, diam / 7 - 1,
                  np.sin(2 * np.pi * week / 52), np.cos(2 * np.pi * week / 52),
                  vigour * 2 - 1, water * 2 - 1], 1).astype(np.float32)
    return X, y


@mx.custom_function
def soft_clip(x):
    return 3.0 * mx.tanh(x / 3.0)


@soft_clip.vjp
def soft_clip_vjp(primals, cotangent, output):
    x = primals
    t = mx.tanh(x / 3.0)
    return cotangent * (1.0 - t * t)


class WiringNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rff = nn.Linear(8, 128)          # random Fourier features, kept frozen
        self.hidden = nn.Linear(256, 64)
        self.head = nn.Linear(64, 3)

    def __call__(self, x):
        z = self.rff(x)
        feats = mx.concatenate([mx.sin(z), mx.cos(z)], axis=-1)
        h = soft_clip(self.hidden(feats))
        return self.head(h)


model = WiringNet()
model.rff.weight = mx.random.normal(model.rff.weight.shape) * 1.2
model.rff.bias = mx.random.uniform(0, 2 * np.pi, model.rff.bias.shape)
model.rff.freeze()
mx.eval(model.parameters())
rff_before = np.array(model.rff.weight)

# custom vjp matches the autodiff derivative
xt = mx.linspace(-5, 5, 11)
g_custom = mx.grad(lambda v: soft_clip(v).sum())(xt)
g_auto = mx.grad(lambda v: (3.0 * mx.tanh(v / 3.0)).sum())(xt)
print(f"check vjp  max|custom-auto| = {float(mx.abs(g_custom - g_auto).max()):.2e}")

Xtr, ytr = notebook(9000)
Xte, yte = notebook(2000)
print(f"class share train: {np.bincount(ytr, minlength=3) / len(ytr)}")


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


opt = optim.SGD(learning_rate=0.08, momentum=0.9, nesterov=True, weight_decay=5e-5)
vg = nn.value_and_grad(model, loss_fn)

g0 = vg(model, mx.array(Xtr[:256]), mx.array(ytr[:256]))[1]
print("check grads ", {k: f"{float(mx.linalg.norm(v)):.3f}" for k, v in tree_flatten(g0)})

state = [model.state, opt.state]


def step(x, y):
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
    return loss


step = mx.compile(step, inputs=state, outputs=state)

epochs, bs = 14, 150
nb = len(Xtr) // bs
acc0 = float((model(mx.array(Xte)).argmax(-1) == mx.array(yte)).mean())
ce0 = float(loss_fn(model, mx.array(Xte), mx.array(yte)))
print(f"ep  0/{epochs} untrained ce={ce0:.4f}  test_acc={acc0 * 100:.1f}%")
t0 = time.time()
for ep in range(1, epochs + 1):
    if ep == 9:
        opt.learning_rate = 0.02
    perm = np.random.permutation(len(Xtr))
    run = 0.0
    for b in range(nb):
        ib = perm[b * bs:(b + 1) * bs]
        loss = step(mx.array(Xtr[ib]), mx.array(ytr[ib]))
        mx.eval(state, loss)
        run += float(loss)
        if (b + 1) % 20 == 0 or b + 1 == nb:
            done = (b + 1) / nb
            bar = "#" * int(done * 20)
            sys.stdout.write(f"\rep {ep:2d}/{epochs} |{bar:<20}| {done * 100:5.1f}% ce={run / (b + 1):.4f}")
    acc = float((model(mx.array(Xte)).argmax(-1) == mx.array(yte)).mean())
    sys.stdout.write(f"  test_acc={acc * 100:.1f}%  {time.time() - t0:.1f}s\n")

drift = float(np.abs(np.array(model.rff.weight) - rff_before).max())
print(f"audit  frozen rff |dW|max={drift:.1e}  head |W|={float(mx.linalg.norm(model.head.weight)):.3f}")
print(f"majority-class acc on test: {np.bincount(yte).max() / len(yte) * 100:.1f}%")
