"""Domain-adversarial training (gradient reversal) for a sawmill knot grader.
Mill A's scanner is labelled; mill B's scanner (shifted gain/offset, extra glare channel noise)
is unlabelled. A grade classifier and a mill discriminator share one feature extractor;
the discriminator's gradient is reversed into the extractor with an mx.custom_function."""
import logging, math, sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="[%(levelname)s] %(message)s")
log = logging.getLogger("knots")

rng = np.random.default_rng(11)
D, K = 8, 3                                # 8 scanner channels, grades: clear / sound knot / loose knot
W_TRUE = rng.normal(size=(D, K))
def board(n, mill):
    z = rng.normal(size=(n, D))
    logits = z @ W_TRUE + 0.6 * np.sin(2 * z[:, :K])
    y = np.argmax(logits + rng.gumbel(size=(n, K)) * 0.5, axis=1)
    x = z.copy()
    if mill == "B":                        # other scanner: gain, offset, glare noise
        x = 1.6 * x + np.linspace(-1.2, 1.2, D)
        x[:, 0] += rng.normal(0, 0.8, n)
    return x.astype(np.float32), y.astype(np.int32)
xa, ya = board(8000, "A"); xb, yb = board(8000, "B"); xb_te, yb_te = board(2000, "B")
mu, sd = xa.mean(0), xa.std(0)
norm = lambda x: (x - mu) / sd              # the mill-A standardiser, applied to both mills
xa, xb, xb_te = norm(xa), norm(xb), norm(xb_te)

@mx.custom_function
def reverse_grad(x, lam):
    return x
@reverse_grad.vjp
def reverse_grad_vjp(primals, cotangent, output):
    _, lam = primals
    return -lam * cotangent, mx.zeros_like(lam)

class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.feat = nn.Sequential(nn.Linear(D, 128), nn.ReLU(), nn.Linear(128, 32), nn.ReLU())
        self.grade = nn.Linear(32, K)
        self.mill = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
    def __call__(self, x, lam):
        h = self.feat(x)
        return self.grade(h), self.mill(reverse_grad(h, lam)).squeeze(-1)

def loss_fn(model, x_src, y_src, x_tgt, lam):
    g_src, m_src = model(x_src, lam)
    _, m_tgt = model(x_tgt, lam)
    cls = nn.losses.cross_entropy(g_src, y_src, reduction="mean")
    dom_logits = mx.concatenate([m_src, m_tgt])
    dom_y = mx.concatenate([mx.zeros(m_src.shape), mx.ones(m_tgt.shape)])
    dom = nn.losses.binary_cross_entropy(dom_logits, dom_y, with_logits=True, reduction="mean")
    return cls + DOM_W * dom, (cls, dom)

mx.random.seed(5)
model = Grader()
opt = optim.SGD(learning_rate=0.005, momentum=0.9)
vg = nn.value_and_grad(model, loss_fn)
EPOCHS, BS, DOM_W = 16, 64, 0.3
steps_per_epoch = len(xa) // BS
TOTAL = EPOCHS * steps_per_epoch

def accuracy(x, y):
    g, _ = model(mx.array(x), mx.array(0.0))
    return 100.0 * float((mx.argmax(g, axis=1) == mx.array(y)).mean())

log.info("mill A boards %d (labelled), mill B boards %d (unlabelled) + %d held out", len(xa), len(xb), len(xb_te))
log.info("epoch 0: mill-B grade error %.1f%% (lower is better)", 100 - accuracy(xb_te, yb_te))
t0, step = time.time(), 0
for ep in range(1, EPOCHS + 1):
    pa, pb = rng.permutation(len(xa)), rng.permutation(len(xb))
    sums = np.zeros(2)
    for i in range(steps_per_epoch):
        p = step / TOTAL
        lam = 2.0 / (1.0 + math.exp(-10 * p)) - 1.0          # 0 -> ~1
        ia, ib = pa[i * BS:(i + 1) * BS], pb[i * BS:(i + 1) * BS]
        (loss, (cls, dom)), g = vg(model, mx.array(xa[ia]), mx.array(ya[ia]), mx.array(xb[ib]), mx.array(lam))
        if step == 0:
            leaves = tree_flatten(g)
            zero = [k for k, v in leaves if float(mx.abs(v).sum()) == 0.0]
            log.info("first step: %d gradient leaves, zero: %s (lambda=%.2f, extractor gets only grade grads)",
                     len(leaves), zero if zero else "none", lam)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, cls, dom)
        sums += (cls.item(), dom.item())
        step += 1
    cls_m, dom_m = sums / steps_per_epoch
    log.info("epoch %d: lambda %.2f | grade CE (mill A) %.3f | mill BCE %.3f (chance 0.693, higher = mills harder to tell apart)"
             " | mill-B grade error %.1f%% | %.1fs", ep, lam, cls_m, dom_m, 100 - accuracy(xb_te, yb_te), time.time() - t0)
log.info("done: mill-A train-set error %.1f%%, mill-B held-out error %.1f%%", 100 - accuracy(xa, ya), 100 - accuracy(xb_te, yb_te))
