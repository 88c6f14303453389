# Bird-ringing stations: species from wing/bill measurements.
# Two stations each train their own classifier on their own catch (disjoint shards),
# and every EXCHANGE steps they swap a frozen snapshot of their model for codistillation.
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(11)
mx.random.seed(11)
N_FEAT, N_CLS = 10, 5
W1 = rng.normal(size=(N_FEAT, 16)) / math.sqrt(N_FEAT)
W2 = rng.normal(size=(16, N_CLS)) * 1.1


def true_probs(x):
    h = np.tanh(x @ W1) + 0.3 * np.sin(2.0 * (x @ W1))
    z = h @ W2
    z = z - z.max(1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(1, keepdims=True)


def make(n):
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    p = true_probs(x)
    y = np.array([rng.choice(N_CLS, p=row) for row in p])
    return x, y.astype(np.int32), p


xa, ya, _ = make(3000)          # station A's catch
xb, yb, _ = make(3000)          # station B's catch
xt, yt, pt = make(2000)         # shared test set
bayes_acc = float((pt.argmax(1) == yt).mean())
major_acc = float((yt == np.bincount(np.concatenate([ya, yb])).argmax()).mean())
xa, ya, xb, yb, xt_m, yt_m = map(mx.array, (xa, ya, xb, yb, xt, yt))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, N_CLS)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


def loss_fn(model, x, y, peer_logits, w):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    logp = logits - mx.logsumexp(logits, axis=1, keepdims=True)
    q_logp = peer_logits - mx.logsumexp(peer_logits, axis=1, keepdims=True)
    kd = mx.mean(mx.sum(mx.exp(q_logp) * (q_logp - logp), axis=1))
    return ce + w * kd, (ce, kd)


STEPS, BATCH, EXCHANGE = 600, 64, 100
BURN_IN, RAMP_END, W_MAX = 200, 400, 0.5


def distill_weight(step):
    if step < BURN_IN:
        return 0.0
    return W_MAX * min(1.0, (step - BURN_IN) / (RAMP_END - BURN_IN))


stations = {}
for name, (x, y) in {"A": (xa, ya), "B": (xb, yb)}.items():
    m = Net()
    mx.eval(m.parameters())
    stations[name] = dict(model=m, opt=optim.Adam(learning_rate=2e-3), x=x, y=y,
                          vg=nn.value_and_grad(m, loss_fn), snap=Net())
for s in stations.values():
    s["snap"].freeze()


def share_snapshots():
    # each station receives a frozen copy of the OTHER station's current weights
    for me, other in (("A", "B"), ("B", "A")):
        stations[me]["snap"].update(tree_map(lambda p: mx.array(p), stations[other]["model"].parameters()))
    mx.eval([s["snap"].parameters() for s in stations.values()])


def accuracy(logits, y):
    return mx.mean(mx.argmax(logits, axis=1) == y).item()


share_snapshots()
print(f"test set: Bayes-rate acc {bayes_acc:.3f}, majority-class acc {major_acc:.3f}")
for step in range(1, STEPS + 1):
    if step % EXCHANGE == 1 and step > 1:
        share_snapshots()
    w = distill_weight(step)
    logs = {}
    for name, s in stations.items():
        idx = mx.array(rng.integers(0, s["x"].shape[0], BATCH))
        xb_, yb_ = s["x"][idx], s["y"][idx]
        peer_logits = mx.stop_gradient(s["snap"](xb_))
        (loss, (ce, kd)), grads = s["vg"](s["model"], xb_, yb_, peer_logits, w)
        s["opt"].update(s["model"], grads)
        mx.eval(s["model"].parameters(), s["opt"].state, loss)
        logs[name] = (loss.item(), ce.item(), kd.item())
    if step % 50 == 0:
        for name in ("A", "B"):
            l, ce, kd = logs[name]
            print(f"step {step:4d} station {name} | loss {l:.4f} ce {ce:.4f} kd {kd:.4f} | w {w:.3f}")
    if step % EXCHANGE == 0:
        la = stations["A"]["model"](xt_m)
        lb = stations["B"]["model"](xt_m)
        ens = (mx.softmax(la, axis=1) + mx.softmax(lb, axis=1)) / 2
        print(f"  eval {step:4d} | test acc A {accuracy(la, yt_m):.3f} B {accuracy(lb, yt_m):.3f} "
              f"avg {mx.mean(mx.argmax(ens, axis=1) == yt_m).item():.3f} | "
              f"test ce A {nn.losses.cross_entropy(la, yt_m, reduction='mean').item():.3f} "
              f"B {nn.losses.cross_entropy(lb, yt_m, reduction='mean').item():.3f}")

la = stations["A"]["model"](xt_m)
lb = stations["B"]["model"](xt_m)
agree = mx.mean(mx.argmax(la, 1) == mx.argmax(lb, 1)).item()
print(f"final: acc A {accuracy(la, yt_m):.3f} B {accuracy(lb, yt_m):.3f} | A/B agreement {agree:.3f} | "
      f"Bayes {bayes_acc:.3f} majority {major_acc:.3f}")
