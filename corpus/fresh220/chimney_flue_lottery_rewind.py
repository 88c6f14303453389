"""Chimney-sweep inspection triage with a lottery-ticket search.

Three outcomes per flue (0 = sweep only, 1 = glazed creosote, 2 = reline),
predicted from 8 inspection readings.  Iterative magnitude pruning: train,
drop the smallest surviving weights, rewind the survivors to their step-0
values (He-normal init), train again.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)


def make_flues(n):
    age = rng.uniform(0, 60, n)              # years since last reline
    fires = rng.gamma(2.0, 90, n)            # fires per season
    wood_wet = rng.uniform(10, 35, n)        # moisture %
    draft = rng.normal(-12, 4, n)            # Pa
    flue_t = rng.normal(180, 40, n)          # exit temp, C
    height = rng.uniform(4, 14, n)           # m
    cracks = rng.poisson(1.2, n).astype(float)
    soot_mm = rng.gamma(1.5, 2.0, n)
    creosote = 0.06 * fires * (wood_wet / 20) ** 1.5 / (1 + np.exp((flue_t - 160) / 30)) + 0.4 * soot_mm
    damage = 0.05 * age + 0.9 * cracks + 0.15 * np.abs(draft + 12) - 0.1 * height
    z1 = creosote - 5.0 + rng.normal(0, 1.0, n)
    z2 = damage - 3.4 + rng.normal(0, 0.8, n)
    y = np.where(z2 > 0, 2, np.where(z1 > 0, 1, 0))
    X = np.stack([age, fires, wood_wet, draft, flue_t, height, cracks, soot_mm], 1)
    return X.astype(np.float32), y.astype(np.int32)


Xtr, ytr = make_flues(6000)
Xva, yva = make_flues(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
mix = np.bincount(np.array(ytr), minlength=3)
print("class mix (train):", mix.tolist(), f"| always-majority val_err ref {100 * float(np.mean(np.array(yva) != mix.argmax())):.2f}%")


class MaskedMLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        self._masks = [mx.ones(l.weight.shape) for l in self.layers]

    def __call__(self, x):
        for i, (l, m) in enumerate(zip(self.layers, self._masks)):
            x = x @ (l.weight * m).T + l.bias
            if i < len(self.layers) - 1:
                x = nn.relu(x)
        return x


mx.random.seed(3)
model = MaskedMLP([8, 64, 64, 3])
he = nn.init.he_normal()
for l in model.layers:
    l.weight = he(l.weight)
    l.bias = mx.zeros(l.bias.shape)
mx.eval(model.parameters())
theta0 = [(mx.array(l.weight), mx.array(l.bias)) for l in model.layers]
total_w = sum(l.weight.size for l in model.layers)


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)

# one-off check that every weight/bias sees a gradient before the search starts
_, g0 = loss_and_grad(model, Xtr[:512], ytr[:512])
gn = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g0)}
print("grad-norm check:", " ".join(f"{k}={v:.3g}" for k, v in gn.items()))
assert all(v > 0 for v in gn.values())


def val_error():
    pred = mx.argmax(model(Xva), axis=1)
    return float(mx.mean(pred != yva)) * 100


ROUNDS, EPOCHS, BS, PRUNE = 5, 6, 128, 0.40
history = []
for rnd in range(ROUNDS):
    kept = int(sum(float(m.sum()) for m in model._masks))
    print(f"== round {rnd + 1}/{ROUNDS} | density {100 * kept / total_w:5.1f}% | kept {kept:,} of {total_w:,} weights ==")
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
    for ep in range(1, EPOCHS + 1):
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        tot, nb = 0.0, 0
        for s in range(0, Xtr.shape[0], BS):
            idx = perm[s:s + BS]
            loss, grads = loss_and_grad(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        print(f"  ep {ep}  xent {tot / nb:.4f}  val_err {val_error():5.2f}%")
    err = val_error()
    leak = max(float(mx.abs(l.weight * (1 - m)).max()) for l, m in zip(model.layers, model._masks))
    history.append((rnd + 1, 100 * kept / total_w, tot / nb, err))
    print(f"  audit: pruned |w|max={leak:.3e}")
    if rnd == ROUNDS - 1:
        break
    # global magnitude pruning over surviving weights, then rewind survivors to step 0
    alive = mx.concatenate([(mx.abs(l.weight) * m).reshape(-1) for l, m in zip(model.layers, model._masks)])
    alive_np = np.array(alive)
    alive_np = alive_np[alive_np > 0]
    thr = np.quantile(alive_np, PRUNE)
    new_masks = [m * (mx.abs(l.weight) > thr) for l, m in zip(model.layers, model._masks)]
    model._masks = [nm.astype(mx.float32) for nm in new_masks]
    for l, (w0, b0), m in zip(model.layers, theta0, model._masks):
        l.weight = w0 * m
        l.bias = b0
    mx.eval(model.parameters(), *model._masks)
    drift = max(float(mx.abs(l.weight - w0 * m).max()) for l, (w0, _), m in zip(model.layers, theta0, model._masks))
    print(f"  rewind: threshold |w|={thr:.4f}  drift-from-init={drift:.1e}  step-0 xent {loss_fn(model, Xtr, ytr).item():.4f}")

print("\nround  density   last-xent  val_err")
for r, d, l, e in history:
    print(f"{r:>5}  {d:6.1f}%   {l:8.4f}  {e:6.2f}%")
