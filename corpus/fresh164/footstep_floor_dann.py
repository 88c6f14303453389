"""Footstep gait typing from floor-vibration geophones, with domain-adversarial
adaptation from the lab corridor (labelled) to a timber-floored office (unlabelled).

Gradient reversal layer written as an mx.custom_function with its own VJP.
"""
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("footstep-dann")

GAITS = ["heel-strike", "shuffle", "brisk"]
FEATS = 10
rng = np.random.default_rng(7)

# ---- synthetic geophone features --------------------------------------------------
protos = rng.normal(0.0, 1.0, size=(3, FEATS)).astype(np.float32) * 1.1


def walkers(n):
    y = rng.integers(0, 3, size=n)
    z = protos[y] + rng.normal(0.0, 0.8, size=(n, FEATS)).astype(np.float32)
    return z, y


# timber office floor: softer, resonant -> mixes and rescales the readings
Q, _ = np.linalg.qr(rng.normal(size=(FEATS, FEATS)))
mix = (0.55 * np.eye(FEATS) + 0.45 * Q).astype(np.float32)
gain = rng.uniform(0.6, 1.6, size=FEATS).astype(np.float32)
offset = rng.normal(0.0, 0.9, size=FEATS).astype(np.float32)

zs, ys = walkers(3000)
zt, yt = walkers(3000)
xs = zs
xt = (zt @ mix.T) * gain + offset
mu, sd = np.concatenate([xs, xt]).mean(0), np.concatenate([xs, xt]).std(0)
xs, xt = (xs - mu) / sd, (xt - mu) / sd
Xs, Ys = mx.array(xs.astype(np.float32)), mx.array(ys.astype(np.int32))
Xt, Yt = mx.array(xt.astype(np.float32)), mx.array(yt.astype(np.int32))  # Yt only for reporting


@mx.custom_function
def grad_reverse(x, lam):
    return x


@grad_reverse.vjp
def grad_reverse_vjp(primals, cotangent, output):
    _, lam = primals
    return -lam * cotangent, mx.zeros_like(lam)


class GaitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.feat = nn.Sequential(nn.Linear(FEATS, 32), nn.GELU(), nn.Linear(32, 16), nn.GELU())
        self.label = nn.Linear(16, 3)
        self.domain = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))

    def __call__(self, x, lam):
        h = self.feat(x)
        return self.label(h), self.domain(grad_reverse(h, lam)).squeeze(-1)


def losses(model, xs, ys, xt, lam, dom_w):
    ls, ds = model(xs, lam)
    _, dt = model(xt, lam)
    cls = nn.losses.cross_entropy(ls, ys, reduction="mean")
    dlog = mx.concatenate([ds, dt])
    dlab = mx.concatenate([mx.zeros(ds.shape), mx.ones(dt.shape)])
    dom = nn.losses.binary_cross_entropy(dlog, dlab, with_logits=True, reduction="mean")
    return cls + dom_w * dom, (cls, dom, dlog, dlab)


def accuracy(model, X, Y):
    logits, _ = model(X, mx.array(0.0))
    return (mx.argmax(logits, axis=-1) == Y).astype(mx.float32).mean().item()


def run(tag, dom_w, epochs=24, batch=128, lr0=0.02, seed=0):
    mx.random.seed(seed)
    model = GaitNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=lr0, momentum=0.9, nesterov=True)
    lossgrad = nn.value_and_grad(model, lambda m, *a: losses(m, *a)[0])
    aux_fn = lambda m, *a: losses(m, *a)[1]
    steps_per = Xs.shape[0] // batch
    total = epochs * steps_per
    step = 0
    checked = False
    for ep in range(1, epochs + 1):
        ps = mx.array(np.random.default_rng(seed * 100 + ep).permutation(Xs.shape[0]))
        pt = mx.array(np.random.default_rng(seed * 100 + ep + 50).permutation(Xt.shape[0]))
        sums = np.zeros(3)
        for b in range(steps_per):
            p = step / total
            lam = 2.0 / (1.0 + math.exp(-10 * p)) - 1.0  # exactly 0 at step 0
            opt.learning_rate = lr0 / (1.0 + 10 * p) ** 0.75
            ib, jb = ps[b * batch:(b + 1) * batch], pt[b * batch:(b + 1) * batch]
            args = (Xs[ib], Ys[ib], Xt[jb], mx.array(lam), dom_w)
            loss, grads = lossgrad(model, *args)
            opt.update(model, grads)
            cls, dom, dlog, dlab = aux_fn(model, *args)
            dacc = ((dlog > 0) == (dlab > 0.5)).astype(mx.float32).mean()
            mx.eval(model.parameters(), opt.state, loss, cls, dom, dacc)
            sums += [cls.item(), dom.item(), dacc.item()]
            step += 1
            if step == steps_per * 2 and not checked:
                gn = {k: float(mx.sqrt(sum((g * g).sum() for _, g in
                                            nn.utils.tree_flatten(v))).item())
                      for k, v in grads.items()}
                log.info("%s audit step %d grad-norms %s", tag,
                         step, " ".join(f"{k}={v:.2e}" for k, v in gn.items()))
                checked = True
        cls_m, dom_m, dacc_m = sums / steps_per
        if dom_w > 0:
            log.info("%s ep %02d/%d lam=%.3f lr=%.4f | cls_ce=%.4f dom_bce=%.4f dom_acc=%.1f%% | "
                     "office_acc=%.1f%% corridor_acc=%.1f%%", tag, ep, epochs, lam,
                     opt.learning_rate.item(), cls_m, dom_m, 100 * dacc_m,
                     100 * accuracy(model, Xt, Yt), 100 * accuracy(model, Xs, Ys))
        elif ep % 6 == 0:
            log.info("%s ep %02d/%d cls_ce=%.4f office_acc=%.1f%% corridor_acc=%.1f%%", tag, ep,
                     epochs, cls_m, 100 * accuracy(model, Xt, Yt), 100 * accuracy(model, Xs, Ys))
    return model


t0 = time.time()
base = run("corridor-only", dom_w=0.0)
ref = accuracy(base, Xt, Yt)
log.info("reference (no adaptation): office_acc=%.1f%% -- chance is 33.3%%", 100 * ref)
dann = run("dann", dom_w=1.0)
fin = accuracy(dann, Xt, Yt)
log.info("summary: office_acc dann=%.1f%% vs corridor-only=%.1f%% (delta %+.1f pts), corridor_acc=%.1f%%, %.1fs",
         100 * fin, 100 * ref, 100 * (fin - ref), 100 * accuracy(dann, Xs, Ys), time.time() - t0)
