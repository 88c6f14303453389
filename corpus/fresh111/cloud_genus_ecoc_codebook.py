"""Cloud genus from all-sky camera summary features, via error-correcting output codes.

Ten WMO cloud genera are encoded by a fixed 15-bit codebook (chosen once from a seed so
that every pair of codewords differs in at least 5 bits).  The network predicts the 15
bits with independent sigmoids; a sample is decoded to the genus whose codeword has the
highest log-likelihood under the predicted bits.  The codebook lives on the model as an
array but is frozen on purpose: it is the label encoding, not something to learn.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

GENERA = ["Ci", "Cc", "Cs", "Ac", "As", "Ns", "Sc", "St", "Cu", "Cb"]
N_BITS = 15
N_FEAT = 9

logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
log = logging.getLogger("skycam")


def make_codebook(n_classes, n_bits, min_dist, seed):
    rng = np.random.default_rng(seed)
    for _ in range(20000):
        cb = rng.integers(0, 2, size=(n_classes, n_bits))
        d = (cb[:, None, :] != cb[None, :, :]).sum(-1)
        d = d + np.eye(n_classes, dtype=int) * n_bits
        if d.min() >= min_dist and cb.sum(0).min() > 0 and (n_classes - cb.sum(0)).min() > 0:
            return cb.astype(np.float32), int(d.min())
    raise RuntimeError("no codebook found")


def simulate(n, rng):
    """Made-up sky-camera summaries: cloud-base height (km), cover (oktas/8), texture,
    brightness, blue ratio, edge sharpness, vertical extent, rain flag, time-of-day cos."""
    y = rng.integers(0, 10, size=n)
    base = np.array([8.5, 7.0, 7.5, 3.5, 4.0, 1.5, 1.2, 0.4, 1.0, 0.8])
    cover = np.array([0.3, 0.4, 0.9, 0.6, 0.9, 1.0, 0.8, 1.0, 0.4, 0.7])
    texture = np.array([0.3, 0.9, 0.1, 0.8, 0.2, 0.1, 0.6, 0.1, 0.7, 0.5])
    bright = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.15, 0.4, 0.35, 0.85, 0.2])
    extent = np.array([0.5, 0.3, 1.0, 0.6, 1.5, 3.0, 0.5, 0.3, 1.5, 9.0])
    rain = np.array([0, 0, 0, 0, 0.1, 0.9, 0.1, 0.2, 0.05, 0.8])
    x = np.empty((n, N_FEAT), dtype=np.float32)
    x[:, 0] = base[y] * np.exp(0.25 * rng.standard_normal(n))
    x[:, 1] = np.clip(cover[y] + 0.15 * rng.standard_normal(n), 0, 1)
    x[:, 2] = texture[y] + 0.15 * rng.standard_normal(n)
    x[:, 3] = bright[y] + 0.12 * rng.standard_normal(n)
    x[:, 4] = 1.0 - 0.5 * x[:, 1] + 0.1 * rng.standard_normal(n)
    x[:, 5] = 0.2 + 0.6 * (y == 8) + 0.3 * (y == 9) + 0.15 * rng.standard_normal(n)
    x[:, 6] = np.log(extent[y]) + 0.35 * rng.standard_normal(n)
    x[:, 7] = (rng.random(n) < rain[y]).astype(np.float32)
    x[:, 8] = np.cos(rng.uniform(0, 2 * math.pi, n))
    return x, y.astype(np.int32)


class CodeNet(nn.Module):
    def __init__(self, codebook):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(N_FEAT, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU()
        )
        self.bits = nn.Linear(64, N_BITS)
        self.codebook = mx.array(codebook)
        self.freeze(keys=["codebook"], recurse=False)

    def __call__(self, x):
        return self.bits(self.body(x))

    def decode(self, bit_logits):
        # log p(codeword c | x) = sum_b [c_b log s_b + (1 - c_b) log(1 - s_b)]
        lp1 = nn.log_sigmoid(bit_logits)
        lp0 = nn.log_sigmoid(-bit_logits)
        score = lp1 @ self.codebook.T + lp0 @ (1.0 - self.codebook).T
        return mx.argmax(score, axis=-1)


def loss_fn(model, xb, yb):
    target_bits = model.codebook[yb]
    return nn.losses.binary_cross_entropy(model(xb), target_bits, with_logits=True, reduction="mean")


def evaluate(model, x, y, bs=1000):
    bit_err, cls_err, bce = 0.0, 0, 0.0
    for i in range(0, x.shape[0], bs):
        xb, yb = x[i:i + bs], y[i:i + bs]
        logits = model(xb)
        tb = model.codebook[yb]
        bce += nn.losses.binary_cross_entropy(logits, tb, with_logits=True, reduction="sum").item()
        bit_err += ((logits > 0).astype(mx.float32) != tb).sum().item()
        cls_err += (model.decode(logits) != yb).sum().item()
    n = x.shape[0]
    return bce / (n * N_BITS), 100.0 * bit_err / (n * N_BITS), 100.0 * cls_err / n


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(11)
    codebook, dmin = make_codebook(10, N_BITS, 5, seed=2024)
    log.info("codebook: %d genera x %d bits, min pairwise Hamming distance %d", 10, N_BITS, dmin)

    xtr, ytr = simulate(12000, rng)
    xva, yva = simulate(3000, rng)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))

    model = CodeNet(codebook)
    mx.eval(model.parameters())
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    log.info("parameters: %d trainable, %d frozen (the codebook)", n_train, n_all - n_train)

    epochs, bs = 14, 96
    steps_per_epoch = xtr.shape[0] // bs
    warm = steps_per_epoch  # one epoch of linear warm-up that starts at exactly 0
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm),
         optim.cosine_decay(3e-3, epochs * steps_per_epoch - warm, 1e-4)],
        [warm],
    )
    opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
    value_and_grad = nn.value_and_grad(model, loss_fn)

    cb_before = np.array(model.codebook)
    bce0, be0, ce0 = evaluate(model, Xva, Yva)
    log.info("untrained: valid bce/bit %.4f, bit error %.2f%%, genus error %.2f%% (chance 90%%)", bce0, be0, ce0)

    step = 0
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        perm = mx.array(rng.permutation(xtr.shape[0]))
        run, seen = 0.0, 0
        for k in range(steps_per_epoch):
            idx = perm[k * bs:(k + 1) * bs]
            loss, grads = value_and_grad(model, Xtr[idx], Ytr[idx])
            if step == 0:
                flat = tree_flatten(grads)
                zero = [name for name, g in flat if mx.abs(g).max().item() == 0.0]
                assert not zero, f"leaves with zero gradient: {zero}"
                assert "codebook" not in dict(flat)
                log.info("first step: %d gradient leaves, all non-zero; lr at step 0 = %.1e",
                         len(flat), opt.learning_rate.item())
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            seen += 1
            step += 1
        vbce, vbit, vcls = evaluate(model, Xva, Yva)
        log.info(
            "epoch %02d: lr %.2e, train bce/bit %.4f, valid bce/bit %.4f, bit error %.2f%%, "
            "genus error %.2f%% (lower is better)",
            epoch, opt.learning_rate.item(), run / seen, vbce, vbit, vcls,
        )

    assert np.array_equal(cb_before, np.array(model.codebook)), "codebook moved"
    log.info("done in %.1fs; codebook unchanged; final genus accuracy %.2f%%",
             time.perf_counter() - t0, 100.0 - vcls)


if __name__ == "__main__":
    main()
