"""Coffee roast level (light / medium / medium-dark / dark) from a cheap
colour meter: 8 reflectance bands plus bean density and moisture.
5-fold cross-validation, every fold trained from scratch."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLASSES = ["light", "medium", "med-dark", "dark"]
rng = np.random.default_rng(7)


def make_beans(n):
    degree = rng.uniform(0.0, 1.0, n)                     # latent roast degree
    waves = np.linspace(0.0, 1.0, 8)
    # darker roast -> lower reflectance, steeper in the red end
    refl = 0.8 - degree[:, None] * (0.35 + 0.4 * waves[None, :])
    refl += rng.normal(0, 0.04, refl.shape)
    density = 0.70 - 0.22 * degree + rng.normal(0, 0.02, n)
    moisture = 3.0 - 2.2 * degree ** 1.5 + rng.normal(0, 0.15, n)
    x = np.concatenate([refl, density[:, None], moisture[:, None]], 1)
    y = np.digitize(degree, [0.3, 0.55, 0.78])
    return x.astype(np.float32), y.astype(np.int32)


class RoastNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(10, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 4)

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def macro_f1(pred, y):
    f1s = []
    for c in range(4):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s))


def train_fold(k, xtr, ytr, xva, yva, epochs=30, bs=50):
    mx.random.seed(100 + k)
    model = RoastNet()
    mx.eval(model.parameters())
    opt = optim.Adagrad(learning_rate=0.05)
    vg = nn.value_and_grad(model, loss_fn)
    # standardise with the fold's own training statistics
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr_m, xva_m = mx.array((xtr - mu) / sd), mx.array((xva - mu) / sd)
    ytr_m, yva_m = mx.array(ytr), mx.array(yva)
    n = len(ytr)
    first = True
    for ep in range(epochs):
        order = rng.permutation(n)
        for i in range(0, n - bs + 1, bs):
            idx = mx.array(order[i:i + bs])
            loss, grads = vg(model, xtr_m[idx], ytr_m[idx])
            if first:
                flat = tree_flatten(grads)
                zero = [p for p, g in flat if float(mx.abs(g).max()) == 0.0]
                print(f"  fold {k}: first step loss {loss.item():.4f}, "
                      f"{len(flat)} grad leaves, zero: {zero or 'none'}")
                first = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
        if ep in (0, 4, 14, epochs - 1):
            vl = loss_fn(model, xva_m, yva_m).item()
            pred = np.array(mx.argmax(model(xva_m), axis=1))
            print(f"  fold {k} epoch {ep + 1:2d}: val CE {vl:.4f}  "
                  f"acc {100 * np.mean(pred == yva):5.1f}%  macro-F1 {100 * macro_f1(pred, yva):5.1f}%")
    pred = np.array(mx.argmax(model(xva_m), axis=1))
    return loss_fn(model, xva_m, yva_m).item(), 100 * np.mean(pred == yva), 100 * macro_f1(pred, yva)


def main():
    t0 = time.time()
    x, y = make_beans(4000)
    counts = np.bincount(y, minlength=4)
    print("beans per class:", dict(zip(CLASSES, counts.tolist())))
    print(f"chance CE {np.log(4):.4f}, majority acc {100 * counts.max() / len(y):.1f}%")
    folds = np.array_split(rng.permutation(len(y)), 5)
    results = []
    for k in range(5):
        va = folds[k]
        tr = np.concatenate([folds[j] for j in range(5) if j != k])
        results.append(train_fold(k + 1, x[tr], y[tr], x[va], y[va]))
    res = np.array(results)
    print()
    print("fold   val_CE   acc%    macroF1%")
    for k, (ce, acc, f1) in enumerate(res, 1):
        print(f"{k:4d}   {ce:.4f}   {acc:5.1f}   {f1:5.1f}")
    print(f"mean   {res[:, 0].mean():.4f}   {res[:, 1].mean():5.1f}   {res[:, 2].mean():5.1f}")
    print(f"std    {res[:, 0].std():.4f}   {res[:, 1].std():5.1f}   {res[:, 2].std():5.1f}")
    print(f"cross-validation done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
