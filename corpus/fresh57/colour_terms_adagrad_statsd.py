# Basic colour-term naming: RGB triple -> one of 11 basic colour words.
# Labels come from the nearest hand-picked prototype in a crude opponent space,
# with 6% of labels flipped (annotator noise). No mlx.optimizers: Adagrad written
# by hand with tree_map. Metrics are emitted as StatsD datagrams (name:value|type|#tags).
import sys
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

NAMES = ["black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown"]
PROTO = np.array([[0, 0, 0], [255, 255, 255], [128, 128, 128], [200, 30, 30], [240, 140, 20],
                  [240, 230, 40], [40, 160, 50], [40, 70, 200], [130, 50, 160], [245, 160, 190],
                  [120, 70, 30]], np.float32) / 255.0


def opponent(rgb):
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.stack([(r + g + b) / 3, (r - g) * 1.4, (r + g - 2 * b) * 0.7], -1)


def make(n, rs, flip=0.06):
    rgb = rs.uniform(0, 1, (n, 3)).astype(np.float32)
    d = ((opponent(rgb)[:, None, :] - opponent(PROTO)[None]) ** 2).sum(-1)
    y = d.argmin(1)
    clean = y.copy()
    m = rs.uniform(size=n) < flip
    y[m] = rs.randint(0, 11, m.sum())
    return rgb, y.astype(np.int32), clean.astype(np.int32)


rs = np.random.RandomState(99)
Xtr, Ytr, _ = make(6000, rs)
Xte, _, Yte_clean = make(2000, rs, flip=0.0)


def emit(name, value, kind="g", **tags):
    t = ",".join(f"{k}:{v}" for k, v in tags.items())
    sys.stdout.write(f"colourterms.{name}:{value}|{kind}" + (f"|#{t}" if t else "") + "\n")


class Namer(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(3, 48)
        self.hid = nn.Linear(48, 48)
        self.out = nn.Linear(48, 11)

    def __call__(self, x):
        x = (x - 0.5) * 2.0
        return self.out(mx.tanh(self.hid(mx.tanh(self.inp(x)))))


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


mx.random.seed(17)
net = Namer()
grad_fn = nn.value_and_grad(net, ce)
LR, EPS = 0.08, 1e-8
accum = tree_map(mx.zeros_like, net.trainable_parameters())

_, g_first = grad_fn(net, mx.array(Xtr[:200]), mx.array(Ytr[:200]))
flat = tree_flatten(g_first)
emit("gradcheck.leaves_nonzero", sum(float(mx.abs(v).max()) > 0 for _, v in flat))
emit("gradcheck.leaves_total", len(flat))
emit("baseline.majority_acc", round(float((Yte_clean == np.bincount(Ytr).argmax()).mean()), 4))

t0 = time.time()
step = 0
for epoch in range(1, 46):
    order = rs.permutation(len(Xtr))
    run = 0.0
    for i in range(0, len(order), 100):
        idx = order[i:i + 100]
        loss, g = grad_fn(net, mx.array(Xtr[idx]), mx.array(Ytr[idx]))
        accum = tree_map(lambda a, gg: a + gg * gg, accum, g)
        new_params = tree_map(lambda p, gg, a: p - LR * gg / (mx.sqrt(a) + EPS),
                              net.trainable_parameters(), g, accum)
        net.update(new_params)
        mx.eval(net.parameters(), accum, loss)
        run += loss.item()
        step += 1
    if epoch % 3 == 0 or epoch == 1:
        pred = np.array(mx.argmax(net(mx.array(Xte)), axis=1))
        emit("train.ce", round(run / (len(order) // 100), 4), epoch=epoch)
        emit("test.acc_clean", round(float((pred == Yte_clean).mean()), 4), epoch=epoch)
        emit("wall_ms", int(1000 * (time.time() - t0)), "ms", epoch=epoch)

pred = np.array(mx.argmax(net(mx.array(PROTO)), axis=1))
emit("prototype.correct", int((pred == np.arange(11)).sum()), "c")
