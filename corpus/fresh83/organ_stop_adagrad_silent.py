# Pipe organ: which of 5 stop families (flute, principal, string, reed, mixture)
# sounds a note, from 10 measured harmonic levels (dB rel. fundamental) + pitch.
# Hand-written Adagrad over tree_flatten; silent while training, history printed at the end.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

STOPS = ["flute", "principal", "string", "reed", "mixture"]
rng = np.random.default_rng(5)
k = np.arange(2, 12)
PROTO = np.stack([
    -12 * np.log2(k) - 6 * (k % 2 == 0),      # flute: weak, odd-ish
    -7 * np.log2(k),                          # principal
    -3.5 * np.log2(k),                        # string: rich
    -2.0 * np.log2(k) - 5 * (k % 2 == 0),     # reed: odd emphasis
    -5 * np.log2(k) + 6 * ((k == 3) | (k == 4) | (k == 6) | (k == 8)),  # mixture
])

def make(n):
    y = rng.integers(0, 5, n)
    pitch = rng.uniform(36, 96, n)                    # MIDI note
    tilt = (pitch[:, None] - 66) / 30 * -2.0 * np.log2(k)
    h = PROTO[y] + tilt + rng.normal(0, 2.6, (n, 10))
    X = np.concatenate([h / 20.0, ((pitch - 66) / 17)[:, None]], 1)
    return X.astype(np.float32), y.astype(np.int32)

Xtr, ytr = make(12000)
Xte, yte = make(2000)

class StopNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(11, 128)
        self.b = nn.Linear(128, 128)
        self.c = nn.Linear(128, 5)
    def __call__(self, x):
        return self.c(nn.relu(self.b(nn.relu(self.a(x)))))

class Adagrad:
    def __init__(self, lr, eps=1e-8):
        self.lr, self.eps, self.acc = lr, eps, None
    def step(self, model, grads):
        g = tree_flatten(grads)
        p = dict(tree_flatten(model.trainable_parameters()))
        if self.acc is None:
            self.acc = {name: mx.zeros_like(v) for name, v in g}
        new = []
        for name, gv in g:
            self.acc[name] = self.acc[name] + gv * gv
            new.append((name, p[name] - self.lr * gv / (mx.sqrt(self.acc[name]) + self.eps)))
        model.update(tree_unflatten(new))
        return list(self.acc.values())

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

def evaluate(model, X, y):
    logits = model(mx.array(X))
    ce = nn.losses.cross_entropy(logits, mx.array(y), reduction="mean").item()
    err = float((np.array(mx.argmax(logits, -1)) != y).mean())
    return ce / np.log(2), 100.0 * err

mx.random.seed(3)
net = StopNet()
opt = Adagrad(0.05)
vg = nn.value_and_grad(net, loss_fn)
history = [("0", None) + evaluate(net, Xte, yte)]
grad_note = None
bs, epochs = 96, 16
steps_per = len(Xtr) // bs
t0 = time.time()
for ep in range(1, epochs + 1):
    perm = rng.permutation(len(Xtr))
    tot = 0.0
    for i in range(steps_per):
        idx = mx.array(perm[i * bs:(i + 1) * bs])
        loss, grads = vg(net, mx.array(Xtr)[idx], mx.array(ytr)[idx])
        if grad_note is None:
            fl = tree_flatten(grads)
            grad_note = (len(fl), [n for n, g in fl if float(mx.abs(g).sum()) == 0.0])
        acc = opt.step(net, grads)
        mx.eval(net.parameters(), acc, loss)
        tot += loss.item()
    history.append((str(ep), tot / steps_per / np.log(2)) + evaluate(net, Xte, yte))
secs = time.time() - t0

print("pipe-organ stop classifier, %d train / %d test notes, %d stops (uniform = %.3f bits)"
      % (len(Xtr), len(Xte), len(STOPS), np.log2(len(STOPS))))
print("first-step gradients: %d leaves, zero-gradient leaves: %s" % grad_note)
print()
print("%-6s %16s %15s %13s" % ("epoch", "train bits/note", "test bits/note", "test miss %"))
for ep, tr, te, miss in history:
    print("%-6s %16s %15.4f %13.2f" % (ep, "-" if tr is None else "%.4f" % tr, te, miss))
print()
print("trained in %.1fs with hand-written Adagrad (lr %.2f)" % (secs, opt.lr))
