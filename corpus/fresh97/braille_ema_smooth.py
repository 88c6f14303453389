"""Braille cell reader: 6 dot photodiode levels + skew/gain nuisances -> letter a..z.
Label-smoothed cross-entropy (the loss can never reach 0), a Polyak/EMA copy of
the weights used for evaluation, hand-written Nesterov SGD over tree_map."""
import logging
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
log = logging.getLogger("braille")

# standard Braille a..z as dot sets 1..6
DOTS = {"a": "1", "b": "12", "c": "14", "d": "145", "e": "15", "f": "124", "g": "1245",
        "h": "125", "i": "24", "j": "245", "k": "13", "l": "123", "m": "134", "n": "1345",
        "o": "135", "p": "1234", "q": "12345", "r": "1235", "s": "234", "t": "2345",
        "u": "136", "v": "1236", "w": "2456", "x": "1346", "y": "13456", "z": "1356"}
LETTERS = sorted(DOTS)
PATTERN = np.array([[1.0 if str(d) in DOTS[c] else 0.0 for d in range(1, 7)] for c in LETTERS],
                   np.float32)


def sample(rng, n):
    y = rng.integers(0, 26, n)
    gain = rng.uniform(0.5, 1.5, (n, 1))
    skew = rng.normal(0, 0.35, (n, 1))
    bleed = np.roll(PATTERN[y], 1, axis=1) * rng.uniform(0, 0.35, (n, 1))
    x = gain * PATTERN[y] + bleed + skew * np.linspace(-1, 1, 6) + rng.normal(0, 0.28, (n, 6))
    x = np.concatenate([x, gain + rng.normal(0, 0.1, (n, 1)), skew], axis=1)
    return x.astype(np.float32), y.astype(np.int32)


class Reader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 26)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


class NesterovSGD:
    def __init__(self, lr, momentum):
        self.lr, self.mu, self.buf = lr, momentum, None

    def step(self, params, grads):
        if self.buf is None:
            self.buf = tree_map(mx.zeros_like, grads)
        self.buf = tree_map(lambda b, g: self.mu * b + g, self.buf, grads)
        return tree_map(lambda p, b, g: p - self.lr * (g + self.mu * b), params, self.buf, grads)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, label_smoothing=0.15, reduction="mean")


def error_pct(model, x, y):
    pred = mx.argmax(model(x), axis=1)
    return 100.0 * (1.0 - mx.mean(pred == y).item())


def main():
    rng = np.random.default_rng(4)
    xtr, ytr = sample(rng, 12000)
    xte, yte = sample(rng, 3000)
    xtr, ytr, xte, yte = map(mx.array, (xtr, ytr, xte, yte))
    mx.random.seed(4)
    model, shadow = Reader(), Reader()
    shadow.update(tree_map(lambda p: p, model.parameters()))
    shadow.freeze()
    opt = NesterovSGD(lr=0.05, momentum=0.9)
    vg = nn.value_and_grad(model, loss_fn)
    decay, bs, step = 0.995, 100, 0
    log.info("train=%d test=%d classes=26 chance_error=%.1f%%", ytr.shape[0], yte.shape[0], 100 * 25 / 26)
    log.info("untrained test error %.2f%%", error_pct(model, xte, yte))
    t0 = time.time()
    for epoch in range(1, 13):
        perm = mx.array(rng.permutation(ytr.shape[0]))
        run, nb = 0.0, 0
        for i in range(0, ytr.shape[0], bs):
            idx = perm[i:i + bs]
            loss, grads = vg(model, xtr[idx], ytr[idx])
            if step == 0:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
                log.info("grad check: %d leaves, zero-gradient leaves: %s", len(flat), zero or "none")
            model.update(opt.step(model.trainable_parameters(), grads))
            shadow.update(tree_map(lambda s, p: decay * s + (1 - decay) * p,
                                   shadow.parameters(), model.parameters()))
            mx.eval(model.parameters(), shadow.parameters(), opt.buf, loss)
            run += loss.item(); nb += 1; step += 1
        if epoch in (1, 2, 3, 4, 6, 8, 10, 12):
            log.info("epoch %2d  smoothed_ce %.4f  test_err raw %.2f%%  test_err ema %.2f%%  (%.1fs)",
                     epoch, run / nb, error_pct(model, xte, yte), error_pct(shadow, xte, yte),
                     time.time() - t0)
    log.info("done after %d updates; label smoothing 0.15 keeps the training loss above its floor", step)


if __name__ == "__main__":
    main()
