# High-wire walking school: classify 20-step sway traces from a walker's
# balance pole (pole angle, foot-pressure asymmetry, wind gust) into
# steady / wobbling / about-to-step-off. Micro-batches stay at 16 traces;
# the number of micro-batches per update ramps 1 -> 2 -> 4 -> 8 by stage.
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_map

rng = np.random.default_rng(5)
T = 20
SMOOTH = 0.1
CLASSES = ("steady", "wobbling", "step-off")


def make_traces(n, gust_scale):
    label = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    t = np.arange(T)[None, :]
    amp = np.array([0.15, 0.45, 0.45])[label][:, None]
    freq = np.array([0.35, 0.9, 0.5])[label][:, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    # step-off traces drift one way over the second half
    drift = (label == 2)[:, None] * np.clip(t - 10, 0, None) * 0.06 * rng.choice([-1, 1], (n, 1))
    angle = amp * np.sin(freq * t + phase) + drift + rng.normal(0, 0.08, (n, T))
    press = 0.6 * np.gradient(angle, axis=1) + rng.normal(0, 0.05, (n, T))
    gust = gust_scale * rng.normal(0, 1.0, (n, T))
    angle = angle + gust  # wind pushes the pole too
    x = np.stack([angle, press, gust], -1).astype(np.float32)
    return mx.array(x), mx.array(label.astype(np.int32))


calm_x, calm_y = make_traces(4096, gust_scale=0.15)
windy_x, windy_y = make_traces(2048, gust_scale=1.0)
val_calm = make_traces(800, gust_scale=0.15)
val_windy = make_traces(800, gust_scale=1.0)


class SwayNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(3, 32)
        self.head = nn.Linear(32, 3)

    def __call__(self, x):
        h = self.gru(x)          # (B, T, 32)
        return self.head(h[:, -1])


def micro_loss(model, x, y):
    ce = nn.losses.cross_entropy(model(x), y, label_smoothing=SMOOTH, reduction="sum")
    return ce


mx.random.seed(0)
model = SwayNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=1.0, momentum=0.9, nesterov=True)
state = [model.state, opt.state]
grad_fn = nn.value_and_grad(model, micro_loss)


@partial(mx.compile, inputs=model.state, outputs=model.state)
def micro_step(x, y):
    return grad_fn(model, x, y)


def evaluate(xy):
    x, y = xy
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, label_smoothing=SMOOTH, reduction="mean")
    acc = (mx.argmax(logits, -1) == y).astype(mx.float32).mean()
    return loss.item(), acc.item()


# smallest mean loss reachable with smoothed targets (perfect classifier)
q = np.array([1 - SMOOTH + SMOOTH / 3] + [SMOOTH / 3] * 2)
floor = float(-(q * np.log(q)).sum())
majority = max(float((val_calm[1] == k).astype(mx.float32).mean()) for k in range(3))
print(f"label-smoothing floor {floor:.3f} nats; majority-class accuracy {majority:.3f}")

MICRO = 16
STAGES = [  # (name, micro-batches per update, updates, data)
    ("calm-1", 1, 60, (calm_x, calm_y)),
    ("calm-2", 2, 60, (calm_x, calm_y)),
    ("calm-4", 4, 50, (calm_x, calm_y)),
    ("windy-8", 8, 70, (mx.concatenate([calm_x, windy_x]), mx.concatenate([calm_y, windy_y]))),
]

update = 0
for name, n_micro, n_updates, (X, Y) in STAGES:
    N = X.shape[0]
    print(f"-- stage {name}: effective batch {MICRO * n_micro} traces "
          f"({n_micro} x {MICRO}), pool {N}")
    for u in range(n_updates):
        acc_g, total, seen = None, 0.0, 0
        for _ in range(n_micro):
            idx = mx.array(rng.integers(0, N, MICRO))
            loss, g = micro_step(X[idx], Y[idx])
            acc_g = g if acc_g is None else tree_map(mx.add, acc_g, g)
            total += loss.item()
            seen += MICRO
        acc_g = tree_map(lambda a: a / seen, acc_g)
        opt.update(model, acc_g)
        mx.eval(state)
        update += 1
        if u == 0 or (u + 1) % 20 == 0:
            print(f"update {update:3d}  train loss {total / seen:.3f}")
    cl, ca = evaluate(val_calm)
    wl, wa = evaluate(val_windy)
    print(f"   after {name}: val calm loss {cl:.3f} acc {ca:.3f} | "
          f"val windy loss {wl:.3f} acc {wa:.3f}")

print(f"done: {update} updates; calm acc {ca:.3f} vs majority {majority:.3f}; "
      f"windy acc {wa:.3f}; floor {floor:.3f}")
