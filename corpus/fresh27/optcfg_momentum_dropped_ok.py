"""Config-driven trainer: 3-arm spiral classifier, optimizer built from a JSON-ish spec."""
import json, math, sys
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CONFIG = json.loads("""
{
  "model": {"hidden": 64, "depth": 3},
  "optimizer": {"name": "SGD", "learning_rate": 0.01,
                "params": {"momentum": 0.95, "nesterov": true}},
  "train": {"epochs": 40, "batch_size": 32, "seed": 0}
}
""")

OPTIMIZERS = {"SGD": optim.SGD, "Adam": optim.Adam, "AdamW": optim.AdamW}

def build_optimizer(spec):
    cls = OPTIMIZERS[spec["name"]]
    return cls(learning_rate=spec["learning_rate"], **spec.get("params", {}))

def spirals(n, k=3, noise=0.15):
    xs, ys = [], []
    key = mx.random.key(CONFIG["train"]["seed"])
    r = mx.random.uniform(0.05, 1.0, (n * k,), key=key)
    eps = noise * mx.random.normal((n * k,), key=mx.random.split(key)[0])
    lab = mx.repeat(mx.arange(k), n)
    th = r * 4.0 + lab * (2 * math.pi / k) + eps
    X = mx.stack([r * mx.cos(th), r * mx.sin(th)], axis=1)
    return X, lab

mx.random.seed(CONFIG["train"]["seed"])
X, Y = spirals(400)
perm = mx.random.permutation(X.shape[0])
X, Y = X[perm], Y[perm]
Xtr, Ytr, Xva, Yva = X[:1000], Y[:1000], X[1000:], Y[1000:]

h, d = CONFIG["model"]["hidden"], CONFIG["model"]["depth"]
layers = [nn.Linear(2, h), nn.Tanh()]
for _ in range(d - 1):
    layers += [nn.Linear(h, h), nn.Tanh()]
model = nn.Sequential(*layers, nn.Linear(h, 3))
opt = build_optimizer(CONFIG["optimizer"])

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

step = nn.value_and_grad(model, loss_fn)
bs = CONFIG["train"]["batch_size"]
print(f"{'epoch':>5} {'train_ce':>9} {'val_ce':>7} {'val_acc':>7}")
for ep in range(1, CONFIG["train"]["epochs"] + 1):
    p = mx.random.permutation(Xtr.shape[0])
    tot, nb = 0.0, 0
    for i in range(0, Xtr.shape[0], bs):
        idx = p[i:i + bs]
        l, g = step(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        tot += l.item(); nb += 1
    if ep % 4 == 0 or ep == 1:
        lv = model(Xva)
        va = loss_fn(model, Xva, Yva).item()
        acc = mx.mean(mx.argmax(lv, axis=1) == Yva).item()
        print(f"{ep:5d} {tot / nb:9.4f} {va:7.4f} {acc:7.3f}")
