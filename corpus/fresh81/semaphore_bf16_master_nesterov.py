"""Flag-semaphore letter recognition from noisy arm-angle readings.

A functional MLP whose fp32 master weights are cast to bfloat16 inside the loss;
the forward/backward run in bf16, gradients come back in fp32 through the cast,
and a hand-written Nesterov SGD updates the fp32 masters. Loss is reported in
bits per symbol.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
from mlx.utils import tree_map, tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s semaphore %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("sema")

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# the 8 arm positions, 45 degrees apart; each letter = unordered pair of distinct positions
PAIRS = [(a, b) for a in range(8) for b in range(a + 1, 8)][:26]


def make_data(n, rng):
    y = rng.integers(0, 26, n)
    pos = np.array([PAIRS[k] for k in y], dtype=np.float64)
    swap = rng.random(n) < 0.5              # which arm holds which flag is arbitrary
    pos[swap] = pos[swap][:, ::-1]
    ang = pos * (np.pi / 4) + rng.normal(0, 0.18, pos.shape)   # sloppy signaller
    lean = rng.normal(0, 0.10, (n, 1))                          # body lean shifts both arms
    ang = ang + lean
    feats = np.concatenate([np.sin(ang), np.cos(ang),
                            np.sin(ang[:, :1] - ang[:, 1:]), np.cos(ang[:, :1] - ang[:, 1:])], 1)
    feats = feats + rng.normal(0, 0.05, feats.shape)
    return feats.astype(np.float32), y.astype(np.int32)


def init_params(key, sizes):
    params = []
    keys = mx.random.split(key, len(sizes) - 1)
    for k, (i, o) in zip(keys, zip(sizes[:-1], sizes[1:])):
        lim = math.sqrt(6.0 / (i + o))
        params.append({"w": mx.random.uniform(-lim, lim, (i, o), key=k), "b": mx.zeros((o,))})
    return params


def forward(params, x):
    h = x
    for j, layer in enumerate(params):
        h = h @ layer["w"] + layer["b"]
        if j < len(params) - 1:
            h = mx.maximum(h, 0)
    return h


def loss_fn(master, x, y):
    low = tree_map(lambda p: p.astype(mx.bfloat16), master)
    logits = forward(low, x.astype(mx.bfloat16)).astype(mx.float32)
    lse = mx.logsumexp(logits, axis=-1)
    picked = mx.take_along_axis(logits, y[:, None], axis=-1).squeeze(-1)
    return mx.mean(lse - picked)


grad_fn = mx.value_and_grad(loss_fn)


class NesterovSGD:
    def __init__(self, lr, momentum, wd):
        self.lr, self.mu, self.wd = lr, momentum, wd
        self.v = None

    def step(self, params, grads, lr):
        grads = tree_map(lambda g, p: g + self.wd * p, grads, params)
        if self.v is None:
            self.v = tree_map(mx.zeros_like, grads)
        self.v = tree_map(lambda v, g: self.mu * v + g, self.v, grads)
        return tree_map(lambda p, v, g: p - lr * (g + self.mu * v), params, self.v, grads)


def evaluate(params, X, Y):
    logits = forward(tree_map(lambda p: p.astype(mx.bfloat16), params), X.astype(mx.bfloat16)).astype(mx.float32)
    nll = mx.mean(mx.logsumexp(logits, -1) - mx.take_along_axis(logits, Y[:, None], -1).squeeze(-1))
    err = mx.mean((mx.argmax(logits, -1) != Y).astype(mx.float32))
    return nll.item() / math.log(2), err.item() * 100


def main():
    rng = np.random.default_rng(5)
    Xtr, Ytr = make_data(20000, rng)
    Xte, Yte = make_data(4000, rng)
    Xtr, Ytr, Xte, Yte = map(mx.array, (Xtr, Ytr, Xte, Yte))
    params = init_params(mx.random.key(3), [Xtr.shape[1], 128, 128, 26])
    opt = NesterovSGD(lr=0.05, momentum=0.9, wd=5e-4)
    n_params = sum(v.size for _, v in tree_flatten(params))
    log.info("data: %d train / %d test signals, %d features, 26 letters, uniform guess = %.3f bits/symbol",
             Xtr.shape[0], Xte.shape[0], Xtr.shape[1], math.log2(26))
    b0, e0 = evaluate(params, Xte, Yte)
    log.info("model: fp32 master weights (%d params), bf16 compute; untrained test %.3f bits/symbol, error %.1f%%",
             n_params, b0, e0)
    batch, epochs = 128, 10
    steps_per_epoch = Xtr.shape[0] // batch
    total = steps_per_epoch * epochs
    step = 0
    for ep in range(1, epochs + 1):
        t0 = time.time()
        perm = mx.random.permutation(Xtr.shape[0])
        run_bits = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * batch:(i + 1) * batch]
            loss, grads = grad_fn(params, Xtr[idx], Ytr[idx])
            if step == 0:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
                dtypes = sorted({str(g.dtype) for _, g in flat})
                log.info("first step: %d gradient leaves, zero-gradient leaves %s, grad dtypes %s",
                         len(flat), zero, dtypes)
            lr = 0.05 * 0.5 * (1 + math.cos(math.pi * step / total))
            params = opt.step(params, grads, lr)
            mx.eval(params, opt.v, loss)
            run_bits += loss.item() / math.log(2)
            step += 1
        bits, err = evaluate(params, Xte, Yte)
        log.info("epoch %2d/%d lr %.4f | train %.3f bits/symbol | test %.3f bits/symbol | test error %.2f%% | %.1fs",
                 ep, epochs, lr, run_bits / steps_per_epoch, bits, err, time.time() - t0)
    dt = {str(v.dtype) for _, v in tree_flatten(params)}
    log.info("done: master weights still %s after %d steps", sorted(dt), step)


if __name__ == "__main__":
    main()
