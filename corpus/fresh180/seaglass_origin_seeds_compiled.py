"""Beachcombing: which source a sea-glass shard came from (bottle / jar / tableware /
insulator / marble) from 6 handheld-meter readings. Three seeds, compiled SGD step,
stdlib logging, a harder 'worn shards' stage that makes the loss jump before it falls."""
import logging
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("seaglass")
K = 5
CENTRES = np.array([[0.2, 1.4, 0.5, 3.0, 0.1, 0.6],
                    [1.1, 0.3, 0.9, 2.0, 0.4, 0.2],
                    [-0.8, 0.9, -0.6, 1.0, 1.2, -0.4],
                    [0.4, -1.0, 1.5, 0.4, -0.7, 1.0],
                    [-1.2, -0.2, -1.1, 2.6, 0.8, -1.1]], np.float32)

def shards(rng, n, wear):
    y = rng.integers(0, K, n)
    x = CENTRES[y] + rng.normal(0, 0.55, (n, 6))
    frost = rng.uniform(0, wear, (n, 1))            # surface frosting blurs the readings
    x = x * (1 - 0.5 * frost) + rng.normal(0, 1, (n, 6)) * frost
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))

class ShardNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU())
        self.cls = nn.Linear(48, K)
    def __call__(self, x):
        return self.cls(self.body(x))

def run(seed):
    rng = np.random.default_rng(100 + seed)
    mx.random.seed(seed)
    model = ShardNet()
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
    def loss_fn(x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")
    vg = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]
    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, g = vg(x, y)
        opt.update(model, g)
        return loss
    _, g = vg(*shards(rng, 64, 0.2))
    dead = [k for k, v in tree_flatten(g) if mx.abs(v).max().item() == 0]
    assert not dead, dead
    Xte, yte = shards(rng, 3000, 1.0)
    out = []
    acc0 = (mx.argmax(model(Xte), -1) == yte).mean().item()
    log.info("seed=%d untrained worn_test_acc=%.1f%%", seed, 100 * acc0)
    for stage, wear in (("fresh", 0.2), ("worn", 1.0)):
        X, Y = shards(rng, 8000, wear)
        for it in range(1, 601):
            idx = mx.array(rng.integers(0, 8000, 128))
            loss = step(X[idx], Y[idx])
            mx.eval(state, loss)
            if it % 150 == 0:
                acc = (mx.argmax(model(Xte), -1) == yte).mean().item()
                log.info("seed=%d stage=%s it=%d xent=%.3f worn_test_acc=%.1f%%",
                         seed, stage, it, loss.item(), 100 * acc)
        out.append(acc)
    return out

table = {s: run(s) for s in range(3)}
print("seed | acc after fresh | acc after worn | chance")
for s, (a, b) in table.items():
    print(f"{s:4d} | {100*a:14.1f}% | {100*b:13.1f}% | {100/K:.1f}%")
b = np.array([v[1] for v in table.values()])
print(f"worn-shard accuracy {100*b.mean():.1f}% +/- {100*b.std():.1f}")
