# Floral origin of honey lots: one-vs-rest scorers vs a softmax net vs baselines.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

KINDS = ["clover", "heather", "acacia", "lime", "buckwheat"]
rng = np.random.default_rng(7)
centres = rng.normal(0, 1.3, size=(5, 9))
mix = rng.normal(0, 0.35, size=(9, 9))


def make(n):
    y = rng.choice(5, size=n, p=[0.34, 0.12, 0.22, 0.2, 0.12])
    x = centres[y] + rng.normal(0, 1.0, size=(n, 9))
    x = x + 0.6 * np.tanh(x @ mix)
    return x.astype(np.float32), y.astype(np.int32)


xtr, ytr = make(4000)
xte, yte = make(1500)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
Xtr, Ytr, Xte = mx.array(xtr), mx.array(ytr), mx.array(xte)
print(f"lots: train {len(ytr)} test {len(yte)}  class shares " +
      " ".join(f"{k}={np.mean(ytr == i):.2f}" for i, k in enumerate(KINDS)))


class Scorer(nn.Module):
    def __init__(self, out):
        super().__init__()
        self.l1 = nn.Linear(9, 32)
        self.l2 = nn.Linear(32, 32)
        self.head = nn.Linear(32, out)

    def __call__(self, x):
        return self.head(nn.silu(self.l2(nn.silu(self.l1(x)))))


def fit(model, loss_fn, opt, target, steps, tag, every):
    lg = nn.value_and_grad(model, loss_fn)
    n = Xtr.shape[0]
    for s in range(1, steps + 1):
        idx = mx.array(rng.integers(0, n, 128))
        loss, g = lg(model, Xtr[idx], target[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if s % every == 0 or s == 1:
            print(f"  [{tag}] step {s:4d} loss {loss.item():.4f}")


t0 = time.time()
# five binary scorers, one per floral source, each from scratch
ovr_scores = []
for k, name in enumerate(KINDS):
    mx.random.seed(100 + k)
    m = Scorer(1)
    tgt = (Ytr == k).astype(mx.float32)
    bce = lambda mdl, x, t: nn.losses.binary_cross_entropy(mdl(x)[:, 0], t, with_logits=True, reduction="mean")
    fit(m, bce, optim.Lion(learning_rate=3e-4, weight_decay=1e-3), tgt, 600, f"ovr {name}", 200)
    ovr_scores.append(m(Xte)[:, 0])
pred_ovr = np.array(mx.argmax(mx.stack(ovr_scores, axis=1), axis=1))

# softmax net on all five at once
mx.random.seed(200)
net = Scorer(5)
ce = lambda mdl, x, t: nn.losses.cross_entropy(mdl(x), t, reduction="mean")
fit(net, ce, optim.Adam(learning_rate=2e-3), Ytr, 900, "softmax", 300)
pred_net = np.array(mx.argmax(net(Xte), axis=1))

# linear probe: no hidden layer, so it levels off early at a higher loss
mx.random.seed(300)
probe = nn.Linear(9, 5)
fit(probe, ce, optim.Adam(learning_rate=1e-2), Ytr, 600, "linear", 200)
pred_lin = np.array(mx.argmax(probe(Xte), axis=1))

# nearest class mean, no training
cm = np.stack([xtr[ytr == k].mean(0) for k in range(5)])
pred_nc = np.argmin(((xte[:, None, :] - cm[None]) ** 2).sum(-1), axis=1)
pred_major = np.full_like(yte, np.bincount(ytr).argmax())


def per_class(pred):
    rows = []
    for k in range(5):
        tp = np.sum((pred == k) & (yte == k))
        p = tp / max(1, np.sum(pred == k))
        r = tp / max(1, np.sum(yte == k))
        f = 0 if p + r == 0 else 2 * p * r / (p + r)
        rows.append((p, r, f))
    return rows


models = [("one-vs-rest", pred_ovr), ("softmax", pred_net), ("linear", pred_lin),
          ("centroid", pred_nc), ("majority", pred_major)]
print(f"trained 7 models in {time.time() - t0:.1f}s")
print("+-----------+" + "--------------+" * len(models))
print("| F1 %      |" + "".join(f" {n:>12} |" for n, _ in models))
print("+-----------+" + "--------------+" * len(models))
tabs = [per_class(p) for _, p in models]
for k, name in enumerate(KINDS):
    print(f"| {name:<9} |" + "".join(f" {100 * t[k][2]:12.1f} |" for t in tabs))
print("+-----------+" + "--------------+" * len(models))
print("| macro F1  |" + "".join(f" {100 * np.mean([r[2] for r in t]):12.1f} |" for t in tabs))
print("| accuracy  |" + "".join(f" {100 * np.mean(p == yte):12.1f} |" for _, p in models))
print("+-----------+" + "--------------+" * len(models))
print("recall % of softmax per class: " + ", ".join(f"{KINDS[k]} {100 * r[1]:.1f}" for k, r in enumerate(tabs[1])))
