# Taxidermy workshop: learn an embedding of hide-tanning sensor profiles so that two
# readings of the same hide (different probe spot, different day) land together.
# InfoNCE on random augmentations -> noisy objective. Step is mx.compile'd.
# The input "probe calibration" layer is fixed on purpose (factory calibration).
import json
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(4242)

N_HIDES, D_IN, D_EMB = 96, 20, 16
# each hide: latent tanning state (species, tannin uptake, oil, pH drift) -> 20 probe channels
latent = mx.random.normal(shape=(N_HIDES, 5))
mixing = mx.random.normal(shape=(5, D_IN)) / 2.0
hides = mx.tanh(latent @ mixing) + 0.15 * mx.random.normal(shape=(N_HIDES, D_IN))


def augment(x):
    gain = 1.0 + 0.15 * mx.random.normal(shape=(x.shape[0], 1))
    drop = mx.random.bernoulli(0.85, x.shape)
    return gain * x * drop + 0.12 * mx.random.normal(shape=x.shape)


class Embedder(nn.Module):
    def __init__(self):
        super().__init__()
        self.calib = nn.Linear(D_IN, D_IN)   # frozen on purpose
        self.body = nn.Sequential(nn.Linear(D_IN, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Linear(64, D_EMB)

    def __call__(self, x):
        z = self.head(self.body(self.calib(x)))
        return z / mx.sqrt((z * z).sum(-1, keepdims=True) + 1e-8)


model = Embedder()
model.calib.freeze()
mx.eval(model.parameters())
calib_before = mx.array(model.calib.weight)

TAU = 0.2


def info_nce(m, a, b):
    za, zb = m(a), m(b)
    logits = (za @ zb.T) / TAU
    labels = mx.arange(a.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels).mean()
                  + nn.losses.cross_entropy(logits.T, labels).mean())


opt = optim.SGD(learning_rate=0.3, momentum=0.9, nesterov=True)
state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(idx):
    x = hides[idx]
    loss, grads = nn.value_and_grad(model, info_nce)(model, augment(x), augment(x))
    opt.update(model, grads)
    return loss


def recall_at_1():
    za, zb = model(augment(hides)), model(augment(hides))
    hit = (mx.argmax(za @ zb.T, axis=1) == mx.arange(N_HIDES)).astype(mx.float32)
    return float(hit.mean())


# audit: trainable tensors all receive gradient
_, g = nn.value_and_grad(model, info_nce)(model, hides[:32], hides[:32] + 0.01)
flat = tree_flatten(g)
print(json.dumps({"event": "audit", "trainable": len(flat),
                  "zero_grad": [k for k, v in flat if float(mx.abs(v).max()) == 0.0]}))

t0 = time.time()
EPOCHS, BATCH = 60, 32
for ep in range(EPOCHS):
    order = mx.random.permutation(N_HIDES)
    losses = []
    for i in range(0, N_HIDES, BATCH):
        loss = step(order[i:i + BATCH])
        mx.eval(state, loss)
        losses.append(loss.item())
    if ep % 6 == 0 or ep == EPOCHS - 1:
        print(json.dumps({"ep": ep, "nce": round(sum(losses) / len(losses), 4),
                          "nce_uniform": round(float(mx.log(mx.array(BATCH))), 4),
                          "r@1": round(recall_at_1(), 3), "r@1_chance": round(1 / N_HIDES, 3),
                          "sec": round(time.time() - t0, 2)}))

drift = float(mx.abs(model.calib.weight - calib_before).max())
print(json.dumps({"event": "done", "calib_max_abs_change": drift, "r@1": recall_at_1()}))
