"""Pool hall shot outcomes: pot / rattle / miss / scratch from tracked shot features.

- The first layer is a fixed "table calibration" map measured once for this
  table (cushion speed, cloth drag ...).  It is frozen on purpose; only the
  head trains.
- The hidden activation is a pseudo-Huber unit sqrt(1+x^2)-1 written with
  mx.custom_function and a hand-written VJP (audited against autodiff once).
- The whole train step is compiled with mx.compile over model + optimizer state.
- Early stopping on validation macro-F1 with restore of the best weights.
"""
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(4242)
CLASSES = ["pot", "rattle", "miss", "scratch"]


def make_shots(n):
    cut = rng.uniform(0, 75, n)                 # cut angle deg
    dist = rng.uniform(0.2, 2.4, n)             # object ball to pocket m
    speed = rng.gamma(4.0, 0.45, n)             # cue ball m/s
    spin = rng.normal(0, 1, n)                  # side spin (tips)
    pocket_w = rng.uniform(0.105, 0.125, n)     # pocket mouth m
    rail = rng.random(n) < 0.3                  # object ball frozen to rail
    draw = rng.normal(0, 1, n)                  # top/back spin
    skill = rng.normal(0, 1, n)                 # player handicap z-score
    err = np.radians(cut) * dist * (0.6 + 0.35 * np.abs(spin)) / (1.0 + 0.4 * skill.clip(-2, 2) + 2.0)
    margin = (pocket_w - 0.057) / 2 - 0.05 * err - 0.004 * rail
    z_pot = 60 * margin - 0.8 * np.abs(speed - 1.6) + 0.5 * skill
    z_rattle = 1.2 * (speed - 2.0) - 20 * np.abs(margin) + 0.3
    z_miss = -50 * margin + 0.4 * np.abs(spin) - 0.2
    z_scr = 1.4 * (speed - 2.2) + 0.9 * (draw < -1.2) * 2.0 + (cut < 8) * 1.2 - 2.5
    logits = np.stack([z_pot, z_rattle, z_miss, z_scr], 1)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(4, p=pi) for pi in p])
    x = np.stack([cut, dist, speed, spin, pocket_w * 100, rail, draw, skill], 1).astype(np.float32)
    return x, y.astype(np.int32)


x_tr, y_tr = make_shots(900)
print("class share % (train):", " ".join(f"{c}={100*np.mean(y_tr==i):.1f}" for i, c in enumerate(CLASSES)))
x_va, y_va = make_shots(1500)
x_te, y_te = make_shots(1500)
mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-6
Xtr, Xva, Xte = (mx.array((a - mu) / sd) for a in (x_tr, x_va, x_te))
Ytr, Yva, Yte = mx.array(y_tr), mx.array(y_va), mx.array(y_te)


@mx.custom_function
def pseudo_huber(x):
    return mx.sqrt(1.0 + x * x) - 1.0


@pseudo_huber.vjp
def pseudo_huber_vjp(primals, cotangent, output):
    x = primals
    return cotangent * x / mx.sqrt(1.0 + x * x)


class ShotNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.calib = nn.Linear(8, 24)
        self.h1 = nn.Linear(24, 96)
        self.h2 = nn.Linear(96, 96)
        self.head = nn.Linear(96, 4)

    def __call__(self, x):
        c = mx.tanh(self.calib(x))
        h = pseudo_huber(self.h1(c))
        h = pseudo_huber(self.h2(h)) + h
        return self.head(h)


mx.random.seed(7)
model = ShotNet()
model.calib.freeze()
mx.eval(model.parameters())


def ce(model, x, y):
    return mx.mean(nn.losses.cross_entropy(model(x), y))


# audit: custom VJP against autodiff of the same expression
probe = mx.linspace(-4, 4, 101)
g_custom = mx.grad(lambda v: pseudo_huber(v).sum())(probe)
g_auto = mx.grad(lambda v: (mx.sqrt(1.0 + v * v) - 1.0).sum())(probe)
print(f"audit vjp: max|custom-auto| = {mx.max(mx.abs(g_custom - g_auto)).item():.2e}")

_, g0 = nn.value_and_grad(model, ce)(model, Xtr[:256], Ytr[:256])
norms = {k: float(mx.linalg.norm(v.reshape(-1))) for k, v in tree_flatten(g0)}
frozen = sum(v.size for _, v in tree_flatten(model.calib.parameters()))
print("audit grads: " + "  ".join(f"{k}={v:.3e}" for k, v in norms.items()) + f"  | frozen calib params={frozen}")

opt = optim.Lion(learning_rate=1e-3, weight_decay=0.05)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, ce)(model, x, y)
    opt.update(model, grads)
    return loss


def macro_f1(logits, y):
    pred = np.array(mx.argmax(logits, axis=1))
    y = np.array(y)
    f1s, recalls = [], []
    for c in range(4):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
        recalls.append(tp / max(1, tp + fn))
    return 100 * float(np.mean(f1s)), 100 * recalls[0]


calib_before = np.array(model.calib.weight)
print("| ep | train_ce | val_ce | val_F1 % | pot recall % | note")
print("|----|----------|--------|----------|--------------|-----")
best_f1, best_ep, best_w, patience, bad = -1.0, -1, None, 8, 0
bs = 64
for ep in range(1, 121):
    perm = rng.permutation(len(y_tr))
    tot = 0.0
    for i in range(0, len(perm), bs):
        idx = mx.array(perm[i:i + bs])
        loss = train_step(Xtr[idx], Ytr[idx])
        mx.eval(state, loss)
        tot += loss.item() * len(idx)
    val_logits = model(Xva)
    val_ce = ce(model, Xva, Yva).item()
    f1, rec = macro_f1(val_logits, Yva)
    note = ""
    if f1 > best_f1:
        best_f1, best_ep, bad = f1, ep, 0
        best_w = [(k, mx.array(v)) for k, v in tree_flatten(model.trainable_parameters())]
        mx.eval([v for _, v in best_w])
        note = "*"
    else:
        bad += 1
    print(f"| {ep:3d} | {tot / len(y_tr):.4f} | {val_ce:.4f} | {f1:6.2f} | {rec:6.2f} | {note}")
    if bad >= patience and ep >= 15:
        print(f"stopping: no val_F1 gain for {patience} epochs")
        break

model.update(tree_unflatten(best_w))
mx.eval(model.parameters())
te_f1, te_rec = macro_f1(model(Xte), Yte)
te_ce = ce(model, Xte, Yte).item()
drift = float(np.abs(np.array(model.calib.weight) - calib_before).max())
prior = np.bincount(y_tr, minlength=4) / len(y_tr)
prior_ce = float(-np.mean(np.log(prior[y_te])))
print(f"restored epoch {best_ep} (val_F1 {best_f1:.2f} %)")
print(f"test: ce {te_ce:.4f} (class-prior ce {prior_ce:.4f})  F1 {te_f1:.2f} %  pot recall {te_rec:.2f} %")
print(f"calib max drift {drift:.1e}")
