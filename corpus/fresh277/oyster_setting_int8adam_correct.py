"""Oyster hatchery: 3-way spat-setting outcome of a larval tank (poor / fair / strong).

Classifier trained with a hand-written Adam whose two moment buffers are stored
as int8 codes with one float scale per block of 64 values (block-wise absmax,
the second moment kept as sqrt(v) so its range fits 8 bits). Each step
dequantizes the moments, updates them, updates the float32 weights, and
quantizes the moments again. Outcomes are sampled from a made-up logit law, so
cross-entropy cannot go below ~0.41 nats.
"""

import time

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

BLOCK = 64


def make_tanks(n, rng):
    x = rng.normal(size=(n, 7)).astype(np.float32)
    s = 1.6 * x[:, 0] - 1.1 * x[:, 1] ** 2 + 0.9 * x[:, 2] * x[:, 3] + 0.7 * np.sin(2 * x[:, 4])
    logits = np.stack([-s, 0.4 * np.ones(n) - 0.5 * np.abs(x[:, 5]), s + 0.3 * x[:, 6]], 1) * 1.6
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=pi) for pi in p])
    return mx.array(x), mx.array(y), float(-np.mean(np.sum(p * np.log(p), 1)))


def q8(x):
    flat = x.reshape(-1)
    pad = (-flat.size) % BLOCK
    if pad:
        flat = mx.concatenate([flat, mx.zeros((pad,), flat.dtype)])
    blocks = flat.reshape(-1, BLOCK)
    scale = mx.maximum(mx.abs(blocks).max(axis=1, keepdims=True), 1e-12) / 127.0
    codes = mx.clip(mx.round(blocks / scale), -127, 127).astype(mx.int8)
    return {"codes": codes, "scale": scale, "shape": x.shape, "n": x.size}


def dq8(q):
    flat = (q["codes"].astype(mx.float32) * q["scale"]).reshape(-1)[: q["n"]]
    return flat.reshape(q["shape"])


class Int8Adam:
    def __init__(self, lr, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0
        self.m, self.r = {}, {}

    def step(self, model, grads):
        self.t += 1
        params = dict(tree_flatten(model.parameters()))
        new = {}
        for k, g in tree_flatten(grads):
            m = dq8(self.m[k]) if k in self.m else mx.zeros_like(g)
            r = dq8(self.r[k]) if k in self.r else mx.zeros_like(g)
            m = self.b1 * m + (1 - self.b1) * g
            v = self.b2 * r * r + (1 - self.b2) * g * g
            mhat = m / (1 - self.b1 ** self.t)
            vhat = v / (1 - self.b2 ** self.t)
            new[k] = params[k] - self.lr * mhat / (mx.sqrt(vhat) + self.eps)
            self.m[k], self.r[k] = q8(m), q8(mx.sqrt(v))
        model.update(nn.utils.tree_unflatten(list(new.items())))

    def state_arrays(self):
        out = []
        for d in (self.m, self.r):
            for q in d.values():
                out += [q["codes"], q["scale"]]
        return out

    def state_bytes(self):
        return sum(a.nbytes for a in self.state_arrays())


def main():
    t0 = time.time()
    rng = np.random.default_rng(3)
    np.random.seed(3)
    mx.random.seed(3)
    xt, yt, _ = make_tanks(8000, rng)
    xv, yv, floor = make_tanks(2000, rng)
    prior = np.bincount(np.array(yt), minlength=3) / yt.size
    prior_ce = float(-np.sum(np.bincount(np.array(yv), minlength=3) / yv.size * np.log(prior)))

    model = nn.Sequential(nn.Linear(7, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU(), nn.Linear(96, 3))
    mx.eval(model.parameters())
    opt = Int8Adam(lr=2e-3)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    lg = nn.value_and_grad(model, loss_fn)
    n_par = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"params {n_par}; class-prior val CE {prior_ce:.4f}; Bayes floor ~{floor:.4f}")
    for epoch in range(1, 13):
        perm = np.random.permutation(xt.shape[0])
        tot, nb = 0.0, 0
        for i in range(0, xt.shape[0], 128):
            idx = mx.array(perm[i:i + 128])
            loss, g = lg(model, xt[idx], yt[idx])
            opt.step(model, g)
            mx.eval(model.parameters(), *opt.state_arrays())
            tot += loss.item()
            nb += 1
        logits = model(xv)
        vce = nn.losses.cross_entropy(logits, yv, reduction="mean").item()
        acc = (mx.argmax(logits, 1) == yv).mean().item()
        if epoch <= 2 or epoch % 3 == 0:
            zero = np.mean([np.mean(np.array(q["codes"]) == 0) for q in opt.m.values()])
            print(f"epoch {epoch:2d} train CE {tot / nb:.4f} val CE {vce:.4f} val acc {acc:.3f} "
                  f"| first-moment codes at 0: {zero:.0%}, optimizer state {opt.state_bytes()} B")
    print(f"final val CE {vce:.4f} (class prior {prior_ce:.4f}, floor ~{floor:.4f}), acc {acc:.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
