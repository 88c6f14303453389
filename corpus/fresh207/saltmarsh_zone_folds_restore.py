# Salt-marsh survey: which vegetation zone (pioneer / low / mid / high marsh)
# a quadrat belongs to, from 7 field readings.  5-fold cross-validation,
# early stopping on fold-validation balanced accuracy with restore of the best
# weights.  The first layer is a fixed random-Fourier-feature map (frozen on
# purpose); only the head is trained.
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s marsh: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("marsh")

mx.random.seed(5)
N, F, C = 2000, 7, 4
ZONES = ["pioneer", "low", "mid", "high"]

# elevation vs mean high water (m), inundations/month, salinity (psu), grain (phi),
# redox (mV), canopy height (cm), distance to creek (m)
elev = mx.random.uniform(-0.6, 0.8, (N,))
inund = mx.maximum(60 * mx.exp(-3 * (elev + 0.6)) + 2 * mx.random.normal((N,)), 0)
sal = 30 - 8 * elev + 2 * mx.random.normal((N,))
grain = 4 + 1.5 * elev + 0.5 * mx.random.normal((N,))
redox = -150 + 260 * elev + 40 * mx.random.normal((N,))
canopy = 20 + 35 * mx.maximum(elev + 0.2, 0) + 6 * mx.random.normal((N,))
creek = mx.random.uniform(0, 120, (N,))
X = mx.stack([elev / 0.7, inund / 30, (sal - 30) / 8, (grain - 4) / 1.5,
              redox / 200, (canopy - 30) / 15, creek / 60 - 1], axis=1)
# zone label sampled from a made-up ordinal-ish law (not perfectly separable)
centres = mx.array([-0.45, -0.05, 0.3, 0.65])
logits = -((elev[:, None] - centres[None, :]) ** 2) / 0.025 - 0.004 * creek[:, None] * mx.array([1.0, 0, 0, -1.0])
y = mx.random.categorical(logits)
counts = [int((y == k).sum().item()) for k in range(C)]
log.info("quadrats per zone: %s", dict(zip(ZONES, counts)))


class ZoneNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rff = nn.Linear(F, 64)          # random Fourier features, frozen below
        self.head = nn.Sequential(nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, C))

    def __call__(self, x):
        z = self.rff(x)
        return self.head(mx.concatenate([mx.sin(z), mx.cos(z)], axis=1))


def loss_fn(model, x, t):
    return nn.losses.cross_entropy(model(x), t, reduction="mean")


def balanced_acc(model, x, t):
    pred = mx.argmax(model(x), axis=1)
    recalls = []
    for k in range(C):
        m = (t == k)
        if m.sum().item() > 0:
            recalls.append(((pred == k) & m).sum().item() / m.sum().item())
    return 100.0 * sum(recalls) / len(recalls)


perm = mx.random.permutation(N)
folds = [perm[i::5] for i in range(5)]
results = []
for k in range(5):
    va_idx = folds[k]
    tr_idx = mx.concatenate([folds[j] for j in range(5) if j != k])
    xtr, ytr, xva, yva = X[tr_idx], y[tr_idx], X[va_idx], y[va_idx]

    model = ZoneNet()
    model.rff.freeze()
    mx.eval(model.parameters())
    rff_before = mx.array(model.rff.weight)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    _, g = nn.value_and_grad(model, loss_fn)(model, xtr[:256], ytr[:256])
    nz = sum(1 for _, v in tree_flatten(g) if mx.abs(v).sum().item() > 0)
    log.info("fold %d/5 start: trainable %d of %d params, %d/%d grad arrays nonzero",
             k + 1, n_train, n_all, nz, len(tree_flatten(g)))

    opt = optim.RMSprop(learning_rate=2e-3)
    step = nn.value_and_grad(model, loss_fn)
    best, best_ep, patience, wait = -1.0, 0, 6, 0
    best_params = None
    for epoch in range(1, 61):
        order = mx.random.permutation(xtr.shape[0])
        tot = 0.0
        for b in range(0, xtr.shape[0], 64):
            bi = order[b:b + 64]
            loss, grads = step(model, xtr[bi], ytr[bi])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * bi.shape[0]
        bacc = balanced_acc(model, xva, yva)
        if bacc > best:
            best, best_ep, wait = bacc, epoch, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            wait += 1
        if epoch % 5 == 0 or wait == 0 and epoch <= 3:
            log.info("fold %d epoch %2d  xent %.4f  bal-acc %5.1f%%  (best %5.1f%% @%d)",
                     k + 1, epoch, tot / xtr.shape[0], bacc, best, best_ep)
        if wait >= patience:
            log.info("fold %d early stop at epoch %d, restoring epoch %d", k + 1, epoch, best_ep)
            break
    model.update(best_params)
    mx.eval(model.parameters())
    final = balanced_acc(model, xva, yva)
    drift = mx.abs(model.rff.weight - rff_before).max().item()
    log.info("fold %d restored bal-acc %.1f%% (chance 25.0%%), frozen rff max drift %.1e", k + 1, final, drift)
    results.append(final)

mean = sum(results) / len(results)
sd = math.sqrt(sum((r - mean) ** 2 for r in results) / len(results))
log.info("5-fold balanced accuracy %.1f%% +- %.1f  folds=%s", mean, sd, [round(r, 1) for r in results])
