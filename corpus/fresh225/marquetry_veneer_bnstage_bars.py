"""Marquetry workshop: tell the veneer species (sycamore / walnut / bubinga / ebony-dyed)
from 10 surface measurements of a leaf.

Two stages: stage A uses clean leaves from the saw, stage B adds the stained and
sanded offcuts (much noisier), so the loss jumps when stage B starts. Epoch counter
restarts every stage. Stage B keeps the best epoch by held-out score and restores it.
The MLP uses BatchNorm; evaluation switches to running statistics with model.eval().
"""
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

mx.random.seed(5)
N_CLASS, D = 4, 10
CENTRES = mx.random.normal((N_CLASS, D), key=mx.random.key(3)) * 0.6


def leaves(n, noise, stain_frac, key):
    k1, k2, k3, k4 = mx.random.split(key, 4)
    y = mx.random.randint(0, N_CLASS, (n,), key=k1)
    x = CENTRES[y] + noise * mx.random.normal((n, D), key=k2)
    stained = mx.random.uniform(shape=(n, 1), key=k3) < stain_frac
    shift = mx.array([1.5, -1.0, 0.8, 0, 0, 0.6, 0, -0.7, 0, 0]) * (
        1 + 0.5 * mx.random.normal((n, 1), key=k4))
    x = mx.where(stained, x + shift, x)
    # physical units: density kg/m3 around 600, gloss units around 40, rest raw
    x = x * mx.array([90.0, 6.0] + [1.0] * 8) + mx.array([620.0, 40.0] + [0.0] * 8)
    return x, y


stage_data = {
    "A": (leaves(2400, 0.5, 0.0, mx.random.key(10)), leaves(600, 0.5, 0.0, mx.random.key(11))),
    "B": (leaves(2400, 1.3, 0.4, mx.random.key(20)), leaves(600, 1.3, 0.4, mx.random.key(21))),
}
xa = stage_data["A"][0][0]
MU, SD = mx.mean(xa, axis=0), mx.std(xa, axis=0)


class VeneerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.bn1 = nn.BatchNorm(64)
        self.l2 = nn.Linear(64, 64)
        self.bn2 = nn.BatchNorm(64)
        self.head = nn.Linear(64, N_CLASS)

    def __call__(self, x):
        x = (x - MU) / SD
        x = nn.relu(self.bn1(self.l1(x)))
        x = nn.relu(self.bn2(self.l2(x)))
        return self.head(x)


model = VeneerNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)


def score(x, y):
    model.eval()
    logits = model(x)
    model.train()
    return 100.0 * mx.mean(mx.argmax(logits, axis=1) == y).item()


def bar(done, total, width=20):
    fill = int(width * done / total)
    return "#" * fill + "." * (width - fill)


BS = 64
plan = [("A", 8, None), ("B", 30, 5)]
t_start = time.time()
for s_i, (name, max_ep, patience) in enumerate(plan, 1):
    (xtr, ytr), (xv, yv) = stage_data[name]
    n = xtr.shape[0]
    nb = n // BS
    best, best_ep, best_state, waited = -1.0, 0, None, 0
    for ep in range(1, max_ep + 1):
        perm = mx.random.permutation(n)
        tot, t0 = 0.0, time.time()
        for b in range(nb):
            idx = perm[b * BS:(b + 1) * BS]
            loss, g = vg(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        sc = score(xv, yv)
        dt = time.time() - t0
        sys.stdout.write(
            f"stage {name} ({s_i}/{len(plan)}) ep {ep:>2}/{max_ep}: 100%|{bar(nb, nb)}| "
            f"{nb}/{nb} [{dt:.2f}s, {nb / max(dt, 1e-9):.0f}it/s, loss={tot / nb:.4f}, score={sc:.1f}]\n")
        if patience is not None:
            if sc > best:
                best, best_ep, waited = sc, ep, 0
                best_state = tree_map(lambda a: a, model.parameters())
            else:
                waited += 1
                if waited >= patience:
                    sys.stdout.write(f"  no gain for {patience} epochs, stopping stage {name}\n")
                    break
    if best_state is not None:
        model.update(best_state)
        mx.eval(model.parameters())
        sys.stdout.write(f"  restored epoch {best_ep} (score {best:.1f}); now {score(xv, yv):.1f}\n")

rv = model.bn1.running_var
sys.stdout.write(
    f"done in {time.time() - t_start:.1f}s | clean-leaf score {score(*stage_data['A'][1]):.1f} "
    f"| offcut score {score(*stage_data['B'][1]):.1f} | chance 25.0 "
    f"| bn1 running_var mean {mx.mean(rv).item():.3f}\n")
