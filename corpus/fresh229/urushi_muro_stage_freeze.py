# urushi lacquer curing: stage A learns a stem on a proxy target (hours to dry-to-touch),
# stage B freezes that stem on purpose and fits an outcome classifier
# (tacky / cured / wrinkled) with a compiled step and early stopping with restore.
import logging
from functools import partial
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s muro: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("muro")
mx.random.seed(5)


def coats(n):
    rh = mx.random.uniform(55, 90, (n,))          # % relative humidity in the muro
    temp = mx.random.uniform(15, 30, (n,))        # deg C
    thick = mx.random.uniform(10, 60, (n,))       # micrometres per coat
    urushiol = mx.random.uniform(0.55, 0.75, (n,))
    fan = mx.random.uniform(0, 1, (n,))
    x = mx.stack([(rh - 72) / 10, (temp - 22) / 4, (thick - 35) / 14, (urushiol - 0.65) / 0.06, fan - 0.5], axis=1)
    speed = 0.09 * (rh - 65) + 0.12 * (temp - 20) + 3.0 * (urushiol - 0.65)
    hours = mx.clip(14 - 3.0 * speed + 0.08 * thick + 0.4 * mx.random.normal((n,)), 2, 40)
    wrinkle = (thick > 42) & (speed > 1.0)
    cured = (speed > -0.4) & ~wrinkle
    y = mx.where(wrinkle, 2, mx.where(cured, 1, 0))
    return x, hours, y


xa, ha, ya = coats(4000)
xv, hv, yv = coats(800)


class Stem(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 64)
        self.l2 = nn.Linear(64, 64)

    def __call__(self, x):
        return nn.gelu(self.l2(nn.gelu(self.l1(x))))


class Coat(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = Stem()
        self.hours = nn.Linear(64, 1)
        self.outcome = nn.Linear(64, 3)


model = Coat()
mx.eval(model.parameters())

# ---- stage A: proxy regression, SGD with Nesterov momentum ----
def loss_a(m, x, h):
    return mx.mean(mx.square(m.hours(m.stem(x)).squeeze(-1) - h) / 16.0)

opt_a = optim.SGD(learning_rate=0.03, momentum=0.9, nesterov=True)
vg_a = nn.value_and_grad(model, loss_a)
step = 0
for ep in range(6):
    perm = mx.random.permutation(4000)
    for b in range(0, 4000, 100):
        idx = perm[b:b + 100]
        l, g = vg_a(model, xa[idx], ha[idx])
        opt_a.update(model, g)
        mx.eval(model.parameters(), opt_a.state, l)
        step += 1
    rmse = mx.sqrt(mx.mean(mx.square(model.hours(model.stem(xv)).squeeze(-1) - hv))).item()
    log.info("stage=A step=%d proxy_mse=%.4f val_rmse_h=%.2f", step, l.item(), rmse)

# ---- stage B: freeze the stem, fit the classifier with a compiled step ----
model.stem.freeze()
model.hours.freeze()
opt_b = optim.RMSprop(learning_rate=3e-3)


def loss_b(m, x, y):
    return nn.losses.cross_entropy(m.outcome(m.stem(x)), y, reduction="mean")

vg_b = nn.value_and_grad(model, loss_b)
state = [model.state, opt_b.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_b(x, y):
    l, g = vg_b(model, x, y)
    opt_b.update(model, g)
    return l


def macro(m):
    pred = mx.argmax(m.outcome(m.stem(xv)), axis=1)
    f = []
    for c in range(3):
        tp = mx.sum((pred == c) & (yv == c)).item()
        fp = mx.sum((pred == c) & (yv != c)).item()
        fn = mx.sum((pred != c) & (yv == c)).item()
        f.append(2 * tp / max(1, 2 * tp + fp + fn))
    return sum(f) / 3, mx.mean(pred == yv).item()


n_train = len(tree_flatten(model.trainable_parameters()))
log.info("stage=B frozen stem; trainable tensors=%d; class share=%s", n_train,
         [round(mx.mean(ya == c).item(), 3) for c in range(3)])
best, best_f, patience, bad = None, -1.0, 5, 0
step = 0
for ep in range(60):
    perm = mx.random.permutation(4000)
    for b in range(0, 4000, 200):
        idx = perm[b:b + 200]
        l = train_b(xa[idx], ya[idx])
        mx.eval(state, l)
        step += 1
    f1, acc = macro(model)
    mark = ""
    if f1 > best_f + 1e-3:
        best_f, bad = f1, 0
        best = dict(tree_flatten(model.outcome.parameters()))
        mark = " *"
    else:
        bad += 1
    log.info("stage=B step=%d ce=%.4f f1m=%.3f acc=%.1f%%%s", step, l.item(), f1, 100 * acc, mark)
    if bad >= patience:
        log.info("no gain in %d epochs, restoring best (f1m=%.3f)", patience, best_f)
        break

model.outcome.update(tree_unflatten(list(best.items())))
f1, acc = macro(model)
log.info("final f1m=%.3f acc=%.1f%% (majority-class acc %.1f%%)", f1, 100 * acc,
         100 * max(mx.mean(yv == c).item() for c in range(3)))
