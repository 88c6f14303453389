"""Winery QC: flag TCA-tainted corks from 10 gas-chromatography peak areas.

Phase 1: autoencoder pretraining on many unlabelled corks.
Phase 2: encoder frozen on purpose, only a small head trains on 400 labelled corks.
Phase 3: everything unfrozen, small learning rate, short fine-tune.
Every report is one JSON object per line.
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

RNG = np.random.default_rng(11)
LN2 = float(np.log(2.0))


def log(**kw):
    print(json.dumps(kw, sort_keys=False))


def make_corks(n):
    z = RNG.normal(size=(n, 3)).astype(np.float32)          # 3 hidden compounds
    mix = np.array([[1.0, 0.2, 0.0], [0.8, -0.4, 0.1], [0.1, 1.0, 0.3],
                    [0.0, 0.7, -0.6], [0.3, 0.0, 1.0], [-0.5, 0.2, 0.9],
                    [0.9, 0.9, 0.0], [0.0, -0.3, -0.8], [0.4, 0.4, 0.4],
                    [-0.2, 0.6, 0.5]], np.float32)
    x = np.tanh(z @ mix.T) + 0.08 * RNG.normal(size=(n, 10)).astype(np.float32)
    tca = 1.4 * z[:, 0] - 0.9 * z[:, 2] + 0.5 * z[:, 1] * z[:, 2]
    y = (tca + 0.3 * RNG.normal(size=n) > 1.1).astype(np.float32)   # ~15% tainted
    return x.astype(np.float32), y


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(10, 48)
        self.b = nn.Linear(48, 6)

    def __call__(self, x):
        return self.b(nn.gelu(self.a(x)))


class AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.dec = nn.Sequential(nn.Linear(6, 48), nn.GELU(), nn.Linear(48, 10))

    def __call__(self, x):
        return self.dec(self.enc(x))


class TaintClassifier(nn.Module):
    def __init__(self, enc):
        super().__init__()
        self.enc = enc
        self.head = nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.Linear(16, 1))

    def __call__(self, x):
        return self.head(self.enc(x)).squeeze(-1)


def bce_bits(logits, y):
    return nn.losses.binary_cross_entropy(logits, y, reduction="mean") / LN2


def grad_audit(tag, model, fn, *args):
    _, g = nn.value_and_grad(model, fn)(model, *args)
    flat = tree_flatten(g)
    zero = sum(1 for _, v in flat if float(mx.abs(v).max()) == 0.0)
    log(event="grad_audit", phase=tag, trainable_leaves=len(flat), all_zero=zero)


def run_epochs(model, opt, fn, xs, ys, bs, epochs, tag, report, t0):
    lg = nn.value_and_grad(model, fn)
    n = len(xs)
    for ep in range(1, epochs + 1):
        perm = RNG.permutation(n)
        acc = 0.0
        nb = 0
        for i in range(0, n - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            args = (xs[idx],) if ys is None else (xs[idx], ys[idx])
            loss, g = lg(model, *args)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            acc += loss.item()
            nb += 1
        report(tag, ep, acc / nb, time.time() - t0)


def main():
    mx.random.seed(3)
    t0 = time.time()
    xu, _ = make_corks(12000)                  # unlabelled
    xl, yl = make_corks(400)                   # labelled
    xt, yt = make_corks(3000)                  # held-out test
    mu, sd = xu.mean(0), xu.std(0) + 1e-6
    Xu, Xl, Xt = (mx.array((a - mu) / sd) for a in (xu, xl, xt))
    Yl, Yt = mx.array(yl), mx.array(yt)
    log(event="data", unlabelled=len(xu), labelled=len(xl), test=len(xt),
        taint_rate_pct=round(100 * float(yt.mean()), 1))

    # ---- phase 1: autoencoder ----
    ae = AutoEncoder()
    def recon(m, x):
        return nn.losses.mse_loss(m(x), x)
    grad_audit("pretrain", ae, recon, Xu[:128])
    opt1 = optim.RMSprop(learning_rate=2e-3)
    def rep1(tag, ep, tr, secs):
        if ep % 3 == 0 or ep == 1:
            te = recon(ae, Xt).item()
            log(phase=tag, epoch=ep, train_recon_mse=round(tr, 4), test_recon_mse=round(te, 4),
                secs=round(secs, 2))
    run_epochs(ae, opt1, recon, Xu, None, 128, 15, "pretrain", rep1, t0)

    # ---- phase 2: frozen encoder, train only the head ----
    clf = TaintClassifier(ae.enc)
    clf.enc.freeze()
    enc_before = {k: np.array(v) for k, v in tree_flatten(clf.enc.parameters())}
    def cls_loss(m, x, y):
        return bce_bits(m(x), y)
    grad_audit("head", clf, cls_loss, Xl, Yl)

    def evaluate():
        logits = clf(Xt)
        bits = bce_bits(logits, Yt).item()
        pred = np.array(logits) > 0
        pos = yt > 0.5
        miss = 100.0 * float(np.mean(~pred[pos]))
        false_alarm = 100.0 * float(np.mean(pred[~pos]))
        return bits, miss, false_alarm

    def rep2(tag, ep, tr, secs):
        if ep % 10 == 0 or ep == 1:
            bits, miss, fa = evaluate()
            log(phase=tag, epoch=ep, train_bits=round(tr, 4), test_bits=round(bits, 4),
                missed_taint_pct=round(miss, 1), false_alarm_pct=round(fa, 1),
                secs=round(secs, 2))
    opt2 = optim.AdamW(learning_rate=3e-3, weight_decay=1e-3)
    run_epochs(clf, opt2, cls_loss, Xl, Yl, 32, 60, "head", rep2, t0)
    drift = max(float(np.abs(np.array(v) - enc_before[k]).max())
                for k, v in tree_flatten(clf.enc.parameters()))
    log(event="frozen_check", encoder_max_drift=drift)

    # ---- phase 3: unfreeze, small lr ----
    clf.unfreeze()
    grad_audit("finetune", clf, cls_loss, Xl, Yl)
    opt3 = optim.AdamW(learning_rate=2e-4, weight_decay=1e-3)
    run_epochs(clf, opt3, cls_loss, Xl, Yl, 32, 20, "finetune", rep2, t0)
    bits, miss, fa = evaluate()
    prior = float(yl.mean())
    prior_bits = -(prior * np.log2(prior) + (1 - prior) * np.log2(1 - prior))
    log(event="done", test_bits=round(bits, 4), prior_only_bits=round(float(prior_bits), 4),
        missed_taint_pct=round(miss, 1), false_alarm_pct=round(fa, 1),
        secs=round(time.time() - t0, 2))


if __name__ == "__main__":
    main()
