# Studio pottery: read the witness-cone pack after a glaze firing and call the firing
# under / on target / over from 8 kiln-log readings.  3-fold CV, compiled SGD step,
# early stopping on held-out error with restore of the best weights.
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rs = np.random.RandomState(9031)
N = 4500
peak = rs.normal(1222, 18, N)          # deg C peak thermocouple
hold = rs.gamma(2.0, 6.0, N)            # min soak at peak
ramp = rs.uniform(60, 200, N)           # deg C / h final ramp
cone = rs.choice([5.0, 6.0, 7.0], N)    # target cone number
shelf = rs.randint(0, 3, N)             # 0 bottom, 1 middle, 2 top
reduction = rs.binomial(1, 0.3, N)      # reduction atmosphere flag
density = rs.uniform(0.2, 0.9, N)       # load density
tc_age = rs.uniform(0, 120, N)          # thermocouple firings since new (drifts low)
target_t = {5.0: 1196, 6.0: 1222, 7.0: 1240}
heatwork = (peak + 0.09 * tc_age + 1.1 * hold - 0.08 * (ramp - 120) + 6 * (shelf - 1)
            + 5 * reduction - 14 * (density - 0.5) - np.vectorize(target_t.get)(cone))
logits = np.stack([-heatwork / 6.0 - 1.5, np.zeros(N), heatwork / 6.0 - 1.5], 1)
p = np.exp(logits - logits.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
y = np.array([rs.choice(3, p=pi) for pi in p])
X = np.stack([peak, hold, ramp, cone, shelf, reduction, density, tc_age], 1).astype(np.float32)
print("cone pack outcomes under/on/over: %s" % np.bincount(y, minlength=3).tolist())


class ConeReader(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 48), nn.ReLU(), nn.Linear(48, 48), nn.ReLU(), nn.Linear(48, 3))

    def __call__(self, x):
        return self.net(x)


def bar(k, n, w=20):
    f = int(w * k / n)
    return "|" + "#" * f + "." * (w - f) + "|"


folds = np.array_split(rs.permutation(N), 3)
summary = []
t_all = time.time()
for fi in range(3):
    te = folds[fi]
    trval = np.concatenate([folds[j] for j in range(3) if j != fi])
    va, tr = trval[:600], trval[600:]
    m, s = X[tr].mean(0), X[tr].std(0)
    Xt, Xv, Xe = (mx.array((X[i] - m) / s) for i in (tr, va, te))
    yt, yv, ye = (mx.array(y[i]) for i in (tr, va, te))

    mx.random.seed(100 + fi)
    model = ConeReader()
    opt = optim.SGD(learning_rate=0.08, momentum=0.9, nesterov=True, weight_decay=5e-4)
    mx.eval(model.parameters())

    def loss_fn(xb, yb):
        return nn.losses.cross_entropy(model(xb), yb, reduction="mean")

    state = [model.state, opt.state]

    def inner(xb, yb):
        loss, grads = nn.value_and_grad(model, loss_fn)(xb, yb)
        opt.update(model, grads)
        return loss

    step = mx.compile(inner, inputs=state, outputs=state)

    if fi == 0:
        _, g = nn.value_and_grad(model, loss_fn)(Xt[:200], yt[:200])
        dead = [k for k, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0.0]
        print("grad audit: %d tensors, %d with zero gradient" % (len(tree_flatten(g)), len(dead)))

    def err_pct(Xs, ys):
        return 100.0 * float(mx.mean(mx.argmax(model(Xs), 1) != ys))

    best, best_ep, best_w, bad = 1e9, -1, None, 0
    B, ntr = 64, Xt.shape[0]
    nb = ntr // B
    for ep in range(1, 41):
        order = mx.array(rs.permutation(ntr))
        tot = 0.0
        for b in range(nb):
            idx = order[b * B:(b + 1) * B]
            loss = step(Xt[idx], yt[idx])
            mx.eval(loss, model.parameters(), opt.state)
            tot += float(loss)
        ve = err_pct(Xv, yv)
        sys.stdout.write("fold %d/3 ep %02d %s %d/%d  xent %.4f  held %.1f%%\n" % (fi + 1, ep, bar(nb, nb), nb * B, ntr, tot / nb, ve))
        if ve < best - 1e-9:
            best, best_ep, bad = ve, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            bad += 1
            if bad >= 6:
                sys.stdout.write("  stop: no better held score for 6 epochs, restoring ep %02d\n" % best_ep)
                break
    model.update(best_w)
    mx.eval(model.parameters())
    te_err = err_pct(Xe, ye)
    # Bayes-ish reference: predict the class with highest true probability
    ref = 100.0 * float(np.mean(np.argmax(p[te], 1) != y[te]))
    maj = 100.0 * float(np.mean(y[te] != np.bincount(y[tr]).argmax()))
    summary.append((fi + 1, best_ep, best, te_err, ref, maj))

print("\nfold  best_ep  held   test   oracle  majority")
for r in summary:
    print("%4d  %7d  %5.1f  %5.1f  %6.1f  %8.1f" % r)
te = np.array([r[3] for r in summary])
print("test %.1f +- %.1f  (oracle %.1f, majority %.1f)  %.1fs" % (te.mean(), te.std(), np.mean([r[4] for r in summary]),
                                                               np.mean([r[5] for r in summary]), time.time() - t_all))
