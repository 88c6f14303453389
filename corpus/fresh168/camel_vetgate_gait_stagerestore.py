# Camel endurance race vet gates: 3-way gait call per camel (sound / pad-sore / fatigued)
# from 8 checkpoint readings.  Stage A trains on the clear-cut camels only, stage B
# adds the borderline camels (harder, so the loss jumps), with early stopping + restore.
import logging
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s vetcheck: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("vetcheck")
mx.random.seed(3)


def camels(n, key):
    k = mx.random.split(key, 4)
    call = mx.random.randint(0, 3, (n,), key=k[0])
    hard = mx.random.uniform(shape=(n,), key=k[1]) < 0.45     # borderline camels
    sev = mx.where(hard, 0.35, 1.0)
    z = mx.random.normal(shape=(n, 8), key=k[2])
    f = z * 0.6
    # pace km/h, HR, footpad temp, stride asym, carpal flex deg, HR recovery at gate, feed left, km so far
    pad = (call == 1).astype(mx.float32) * sev
    tired = (call == 2).astype(mx.float32) * sev
    f = f + mx.stack([-0.8 * tired - 0.3 * pad, 1.1 * tired, 0.9 * pad, 1.2 * pad,
                      -1.0 * pad, -1.0 * tired, 0.8 * tired, 0.2 * tired], axis=1)
    return f, call, hard


Xtr, Ytr, Htr = camels(3000, mx.random.key(10))
Xva, Yva, Hva = camels(900, mx.random.key(20))


class GaitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(8, 64)
        self.ln = nn.LayerNorm(64)
        self.mid = nn.Linear(64, 64)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(64, 3)

    def __call__(self, x):
        h = nn.silu(self.ln(self.inp(x)))
        h = self.drop(nn.silu(self.mid(h)))
        return self.head(h)


net = GaitNet()
mx.eval(net.parameters())
opt = optim.RMSprop(learning_rate=2e-3, alpha=0.95)


def xent(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg = nn.value_and_grad(net, xent)
_, g = vg(net, Xtr[:200], Ytr[:200])
log.info("grad check: %d tensors, min |g|max = %.2e", len(tree_flatten(g)),
         min(float(mx.abs(v).max()) for _, v in tree_flatten(g)))


def evaluate(x, y):
    net.eval()
    lg = net(x)
    l = float(nn.losses.cross_entropy(lg, y, reduction="mean"))
    a = float((lg.argmax(-1) == y).mean())
    net.train()
    return l, a


def bar(i, n, width=20):
    k = int(width * i / n)
    return "|" + "#" * k + "." * (width - k) + f"| {i}/{n}"


easy = mx.array([i for i, h in enumerate(Htr.tolist()) if not h])
stages = [("A-clear", Xtr[easy], Ytr[easy], 12), ("B-all", Xtr, Ytr, 40)]
val_easy = mx.array([i for i, h in enumerate(Hva.tolist()) if not h])
BS = 64
t0 = time.time()
for sname, X, Y, epochs in stages:
    best, best_ep, wait, patience = float("inf"), 0, 0, 6
    best_params = None
    for ep in range(1, epochs + 1):
        perm = mx.random.permutation(X.shape[0])
        tot, nb = 0.0, 0
        for s in range(0, X.shape[0] - BS + 1, BS):
            idx = perm[s:s + BS]
            loss, grads = vg(net, X[idx], Y[idx])
            opt.update(net, grads)
            mx.eval(net.parameters(), opt.state, loss)
            tot += float(loss)
            nb += 1
        if sname.startswith("A"):
            vl, va = evaluate(Xva[val_easy], Yva[val_easy])
        else:
            vl, va = evaluate(Xva, Yva)
        print(f"  [{sname}] {bar(ep, epochs)} train_xent={tot / nb:.4f} val_xent={vl:.4f} val_acc={va:.3f}")
        if vl < best - 1e-4:
            best, best_ep, wait = vl, ep, 0
            best_params = [(k, mx.array(v)) for k, v in tree_flatten(net.parameters())]
        else:
            wait += 1
            if wait >= patience:
                log.info("stage %s: no val gain for %d epochs, stopping at epoch %d", sname, patience, ep)
                break
    net.load_weights(best_params)
    mx.eval(net.parameters())
    vl, va = evaluate(Xva, Yva)
    log.info("stage %s restored epoch %d (best val_xent %.4f); full-val xent %.4f acc %.3f",
             sname, best_ep, best, vl, va)

_, acc_hard = evaluate(Xva[mx.array([i for i, h in enumerate(Hva.tolist()) if h])],
                       Yva[mx.array([i for i, h in enumerate(Hva.tolist()) if h])])
_, acc_easy = evaluate(Xva[val_easy], Yva[val_easy])
log.info("final: clear-cut acc %.3f, borderline acc %.3f, chance 0.333, %.1fs", acc_easy, acc_hard, time.time() - t0)
