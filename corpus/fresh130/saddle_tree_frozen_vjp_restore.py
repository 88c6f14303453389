# Saddle fitting: pick the tree width (narrow / medium / wide / extra-wide) from a fitter's
# wither-tracing readings.  The random-feature "tracing encoder" is frozen on purpose; only the
# head trains.  Each epoch writes one JSON line; early stopping restores the best head.
import json
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(2024)
CLASSES = ["narrow", "medium", "wide", "xwide"]


def tracing(n, key):
    ks = mx.random.split(key, 4)
    width = mx.random.uniform(shape=(n,), key=ks[0])                 # latent true wither width
    angle = 0.6 * width + 0.4 * mx.random.uniform(shape=(n,), key=ks[1])
    # 9 readings: tracing widths at 3 heights (cm), shoulder angle (deg), 5 spine offsets (mm)
    h = mx.stack([18 + 8 * width, 24 + 10 * width, 30 + 9 * angle], axis=1)
    sh = (85 + 20 * angle)[:, None]
    spine = 4 * mx.sin(mx.arange(5)[None, :] * (1 + width[:, None])) + mx.random.normal((n, 5), key=ks[2])
    x = mx.concatenate([h, sh, spine], axis=1)
    x = x + 0.8 * mx.random.normal(x.shape, key=ks[3])
    score = width + 0.25 * angle
    y = mx.clip((score * 3.2).astype(mx.int32), 0, 3)
    return x, y


x_tr, y_tr = tracing(1600, mx.random.key(1))
x_va, y_va = tracing(400, mx.random.key(2))
mu, sd = x_tr.mean(0), x_tr.std(0)
x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd


@mx.custom_function
def soft_cap(x):
    return 3.0 * mx.tanh(x / 3.0)


@soft_cap.vjp
def soft_cap_vjp(x, cotangent, output):
    t = mx.tanh(x / 3.0)
    return cotangent * (1.0 - t * t)


class Fitter(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(9, 128)     # random features, frozen
        self.head1 = nn.Linear(128, 32)
        self.head2 = nn.Linear(32, 4)

    def __call__(self, x):
        f = mx.cos(self.encoder(x))
        return self.head2(soft_cap(self.head1(f)))


model = Fitter()
model.encoder.freeze()
mx.eval(model.parameters())
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"# trainable {n_train} / {n_all} params (encoder frozen)", file=sys.stderr)


def xent(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg = nn.value_and_grad(model, xent)
opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
majority = max(float((y_va == c).mean()) for c in range(4))

best, best_ep, wait, patience = None, -1, 0, 6
enc_before = mx.array(model.encoder.weight)
for ep in range(60):
    perm = mx.random.permutation(x_tr.shape[0])
    tot = 0.0
    for i in range(0, x_tr.shape[0], 50):
        b = perm[i:i + 50]
        loss, g = vg(model, x_tr[b], y_tr[b])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    logits = model(x_va)
    vl = xent(model, x_va, y_va).item()
    acc = float((logits.argmax(-1) == y_va).mean())
    gnorm = float(mx.sqrt(sum((v * v).sum() for _, v in tree_flatten(g))))
    rec = {"ep": ep, "fit_nll": round(tot / 32, 4), "hold_nll": round(vl, 4),
           "hold_acc_pct": round(100 * acc, 1), "majority_pct": round(100 * majority, 1),
           "head_grad_l2": round(gnorm, 4)}
    if best is None or vl < best[0] - 1e-4:
        best = (vl, acc, tree_map(lambda a: mx.array(a), model.trainable_parameters()))
        best_ep, wait = ep, 0
    else:
        wait += 1
    rec["since_best"] = wait
    print(json.dumps(rec))
    if wait >= patience:
        break

model.update(best[2])
mx.eval(model.parameters())
vl = xent(model, x_va, y_va).item()
acc = float((model(x_va).argmax(-1) == y_va).mean())
drift = float(mx.abs(model.encoder.weight - enc_before).max())
print(json.dumps({"event": "restore", "best_ep": best_ep, "stopped_ep": ep, "hold_nll": round(vl, 4),
                  "hold_acc_pct": round(100 * acc, 1), "encoder_max_drift": drift}))
