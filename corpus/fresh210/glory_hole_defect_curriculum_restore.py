# Glassblowing studio: which defect a finished piece shows (clean / seed bubbles / cord / stone)
# from 8 synthetic furnace + glory-hole log readings. Curriculum: stage 1 sees only the two
# extreme classes, stage 2 all four. Frozen random-feature stem (on purpose), compiled step,
# early stopping on val loss with restore of the best weights.
import sys
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

CLASSES = ["clean", "seeds", "cord", "stone"]
rng = np.random.default_rng(7)
mx.random.seed(7)


def make(n):
    # furnace temp, fining hours, batch moisture, cullet %, gather size, reheats, pipe temp, humidity
    x = rng.normal(size=(n, 8)).astype(np.float32)
    s = (0.9 * x[:, 0] - 0.7 * x[:, 1] + 0.5 * x[:, 2] * x[:, 3] + 0.6 * np.tanh(2 * x[:, 4])
         - 0.4 * x[:, 5] ** 2 + 0.3 * x[:, 6] - 0.2 * x[:, 7])
    s = s + rng.normal(scale=0.35, size=n)
    cuts = np.quantile(s, [0.4, 0.65, 0.85])
    y = np.digitize(s, cuts).astype(np.int32)
    return x, y


Xtr, ytr = make(6000)
Xva, yva = make(1500)


class Stem(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 128)

    def __call__(self, x):
        return mx.tanh(self.proj(x))


class DefectNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = Stem()
        self.h1 = nn.Linear(128, 64)
        self.h2 = nn.Linear(64, 4)

    def __call__(self, x):
        return self.h2(nn.relu(self.h1(self.stem(x))))


model = DefectNet()
model.stem.freeze()
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


g0 = nn.value_and_grad(model, loss_fn)(model, mx.array(Xtr[:256]), mx.array(ytr[:256]))[1]
dead = [k for k, g in tree_flatten(g0) if float(mx.abs(g).sum()) == 0.0]
print(f"params {n_train}/{n_all} trainable (stem frozen); zero-grad trainable tensors: {len(dead)}")

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(xb, yb):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
    opt.update(model, grads)
    return loss


def evaluate(X, y):
    logits = model(mx.array(X))
    l = nn.losses.cross_entropy(logits, mx.array(y), reduction="mean").item()
    pred = np.array(mx.argmax(logits, axis=1))
    return l, pred


def bar(i, n, width=20):
    k = int(width * i / n)
    return "#" * k + "." * (width - k)


def run_stage(name, X, y, epochs, patience=None, bs=128):
    global best
    Xm, ym = mx.array(X), mx.array(y)
    n = X.shape[0]
    best_loss, wait = float("inf"), 0
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        tot = 0.0
        nb = 0
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            loss = step(Xm[idx], ym[idx])
            mx.eval(state, loss)
            tot += loss.item()
            nb += 1
        vl, pred = evaluate(Xva, yva)
        acc = (pred == yva).mean() * 100
        print(f"{name} {ep:02d}/{epochs} |{bar(ep, epochs)}| loss={tot / nb:.3f} val={vl:.3f} acc={acc:5.1f}%")
        sys.stdout.flush()
        if patience is not None:
            if vl < best_loss - 1e-4:
                best_loss, wait = vl, 0
                best = tree_map(lambda a: mx.array(a), model.parameters())
                mx.eval(best)
            else:
                wait += 1
                if wait >= patience:
                    print(f"{name} early stop at {ep}, best val={best_loss:.3f}")
                    break
    return best_loss


best = None
easy = (ytr == 0) | (ytr == 3)
print(f"stage A: extremes only ({easy.sum()} pieces, classes clean/stone)")
run_stage("A", Xtr[easy], ytr[easy], epochs=6)
print("stage B: all four defect classes")
bl = run_stage("B", Xtr, ytr, epochs=40, patience=5)
model.update(best)
vl, pred = evaluate(Xva, yva)
print(f"restored best: val={vl:.3f} (expected {bl:.3f})")
print(f"{'class':>6} {'n':>5} {'recall':>7}")
for c, nm in enumerate(CLASSES):
    m = yva == c
    print(f"{nm:>6} {m.sum():5d} {100 * (pred[m] == c).mean():6.1f}%")
print(f"overall {100 * (pred == yva).mean():.1f}%  majority-class {100 * (yva == 0).mean():.1f}%")
