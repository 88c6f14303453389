"""Letterpress print shop: classify an impression as starved / good / flooded
ink from 6 press readings. Model = a FIXED random-Fourier-feature layer (frozen
on purpose, never trained) + a trainable 2-layer head. RMSprop with a linear
warm-up that starts at exactly 0. Log loss reported in bits per impression."""
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(21)
N = 11000
roller = rng.uniform(0, 1, N)      # roller pressure
tack = rng.uniform(0, 1, N)        # ink tack
speed = rng.uniform(0, 1, N)       # impressions / min, scaled
humid = rng.uniform(0, 1, N)
paper = rng.uniform(0, 1, N)       # paper absorbency
junk = rng.normal(0, 1, N)         # unused channel
score = (2.2 * roller + 1.5 * np.sin(3 * tack) - 1.2 * speed * paper + 0.8 * humid ** 2
         + rng.logistic(0, 0.25, N))
lab = np.digitize(score, np.quantile(score, [0.3, 0.75])).astype(np.int32)
X = np.stack([roller, tack, speed, humid, paper, junk], 1)
X = ((X - X[:9000].mean(0)) / X[:9000].std(0)).astype(np.float32)
Xtr, Ytr = mx.array(X[:9000]), mx.array(lab[:9000])
Xte, Yte = mx.array(X[9000:]), lab[9000:]


class RFFInk(nn.Module):
    def __init__(self, d_in=6, n_feat=96, hidden=64, n_cls=3):
        super().__init__()
        self.rff = nn.Linear(d_in, n_feat)          # random projection, frozen below
        self.hidden = nn.Linear(2 * n_feat, hidden)
        self.head = nn.Linear(hidden, n_cls)

    def __call__(self, x):
        z = self.rff(x)
        f = mx.concatenate([mx.cos(z), mx.sin(z)], axis=-1) / math.sqrt(z.shape[-1])
        return self.head(nn.relu(self.hidden(f * 8.0)))


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


def evaluate(m):
    logits = m(Xte)
    bits = float(nn.losses.cross_entropy(logits, mx.array(Yte), reduction="mean")) / math.log(2)
    acc = float((np.array(mx.argmax(logits, -1)) == Yte).mean())
    return bits, acc


def show(title, **fields):
    print(title)
    for k, v in fields.items():
        print(f"    {k:<18}{v}")


mx.random.seed(5)
net = RFFInk()
net.rff.freeze()
rff_before = [np.array(v) for _, v in tree_flatten(net.rff.parameters())]
warm, total, peak = 150, 1800, 1e-3
sched = optim.join_schedules([optim.linear_schedule(0.0, peak, warm),
                              optim.cosine_decay(peak, total - warm, 1e-5)], [warm])
opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
vg = nn.value_and_grad(net, loss_fn)

b0, a0 = evaluate(net)
shares = np.bincount(lab[:9000], minlength=3) / 9000
show("setup", rows="9000 train / 2000 test", class_share="/".join(f"{100*s:.1f}%" for s in shares),
     uniform_bits=f"{math.log2(3):.3f}", untrained_bits=f"{b0:.3f}", untrained_acc=f"{100*a0:.1f}%")
_, g = vg(net, Xtr[:128], Ytr[:128])
fl = tree_flatten(g)
show("gradient check", trainable_leaves=len(fl), names=", ".join(k for k, _ in fl),
     zero=[k for k, v in fl if float(mx.abs(v).max()) == 0.0])

order = np.random.default_rng(0).permutation(9000)
cur, window, t0 = 0, [], time.time()
for step in range(1, total + 1):
    if cur + 128 > 9000:
        order, cur = np.random.default_rng(step).permutation(9000), 0
    idx = mx.array(order[cur:cur + 128]); cur += 128
    lr_used = float(sched(opt.step))
    loss, g = vg(net, Xtr[idx], Ytr[idx])
    opt.update(net, g)
    mx.eval(net.parameters(), opt.state, loss)
    window.append(loss.item())
    if step in (1, 25) or step % 300 == 0:
        bits, acc = evaluate(net)
        show(f"step {step}", lr_used=f"{lr_used:.2e}",
             train_bits=f"{np.mean(window) / math.log(2):.4f}",
             test_bits=f"{bits:.4f}", test_acc=f"{100*acc:.1f}%", secs=f"{time.time()-t0:.1f}")
        window = []

drift = max(float(np.abs(np.array(v) - b).max())
            for (_, v), b in zip(tree_flatten(net.rff.parameters()), rff_before))
bits, acc = evaluate(net)
show("done", test_bits=f"{bits:.4f}", test_acc=f"{100*acc:.1f}%", rff_max_drift=drift)
