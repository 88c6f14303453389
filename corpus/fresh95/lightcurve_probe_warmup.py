"""Variable-star light curves: self-supervised pretraining, then a linear probe.

Stage 1 trains a small encoder/decoder as a denoising autoencoder on unlabeled,
phase-folded light curves. Stage 2 freezes the encoder on purpose and trains only
a fresh classification head (5 variability classes) with a hand-written
momentum SGD whose learning rate warms up linearly from exactly 0.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

CLASSES = ["cepheid", "rr_lyrae", "eclipsing", "mira", "constant"]
NPTS = 32


def log(**kw):
    print(json.dumps(kw), flush=True)


def make_curves(rng, n):
    phase = np.linspace(0.0, 1.0, NPTS, endpoint=False)
    y = rng.integers(0, len(CLASSES), size=n)
    X = np.empty((n, NPTS), dtype=np.float32)
    for i, c in enumerate(y):
        amp = rng.uniform(0.4, 1.2)
        shift = rng.uniform(-0.04, 0.04)  # folded on the epoch of maximum, small jitter
        p = (phase + shift) % 1.0
        if c == 0:  # sawtooth-ish: fast rise, slow decline
            f = np.where(p < 0.2, p / 0.2, 1 - (p - 0.2) / 0.8)
        elif c == 1:  # sharper rise, flatter minimum
            f = np.where(p < 0.1, p / 0.1, np.exp(-3.5 * (p - 0.1)))
        elif c == 2:  # two dips
            f = 1 - np.exp(-((p - 0.25) ** 2) / 0.002) - 0.6 * np.exp(-((p - 0.75) ** 2) / 0.002)
        elif c == 3:  # smooth large sinusoid
            f = 0.5 + 0.5 * np.sin(2 * np.pi * p)
            amp *= 1.8
        else:
            f = np.zeros_like(p)
        X[i] = amp * f + rng.normal(0, 0.25, size=NPTS)
    X -= X.mean(axis=1, keepdims=True)
    return X.astype(np.float32), y.astype(np.int32)


class Encoder(nn.Module):
    def __init__(self, d_in=NPTS, d_h=64, d_z=12):
        super().__init__()
        self.l1 = nn.Linear(d_in, d_h)
        self.l2 = nn.Linear(d_h, d_z)

    def __call__(self, x):
        return self.l2(nn.gelu(self.l1(x)))


class AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = nn.Sequential(nn.Linear(12, 64), nn.GELU(), nn.Linear(64, NPTS))

    def __call__(self, x):
        return self.decoder(self.encoder(x))


class Probe(nn.Module):
    def __init__(self, encoder, n_cls):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(12, n_cls)

    def __call__(self, x):
        return self.head(self.encoder(x))


def zero_leaves(grads):
    return [k for k, v in tree_flatten(grads) if float(mx.abs(v).max()) == 0.0]


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    X_unl, _ = make_curves(rng, 12000)
    X_tr, y_tr = make_curves(rng, 600)  # few labels
    X_te, y_te = make_curves(rng, 2000)
    log(event="data", unlabeled=len(X_unl), labeled=len(X_tr), test=len(X_te),
        chance_acc=round(1 / len(CLASSES), 3))

    # ---- stage 1: denoising autoencoder -------------------------------------
    ae = AutoEncoder()
    opt1 = optim.Adam(learning_rate=2e-3)

    def recon_loss(model, xn, x):
        return nn.losses.mse_loss(model(xn), x)

    ae_vg = nn.value_and_grad(ae, recon_loss)
    Xu = mx.array(X_unl)
    t0 = time.time()
    bs = 128
    steps1 = 1500
    run = []
    for step in range(1, steps1 + 1):
        idx = mx.array(rng.integers(0, len(X_unl), size=bs))
        xb = Xu[idx]
        xn = xb + 0.15 * mx.random.normal(xb.shape)
        loss, grads = ae_vg(ae, xn, xb)
        if step == 1:
            log(event="gradcheck", stage="pretrain", leaves=len(tree_flatten(grads)),
                zero=zero_leaves(grads))
        opt1.update(ae, grads)
        mx.eval(ae.parameters(), opt1.state, loss)
        run.append(loss.item())
        if step % 250 == 0:
            log(event="pretrain", step=step, recon_mse=round(float(np.mean(run)), 4),
                secs=round(time.time() - t0, 1))
            run = []

    # ---- stage 2: frozen encoder, linear probe with warm-up from 0 -----------
    probe = Probe(ae.encoder, len(CLASSES))
    probe.encoder.freeze()
    enc_before = {k: np.array(v) for k, v in tree_flatten(probe.encoder.parameters())}

    def ce_loss(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    probe_vg = nn.value_and_grad(probe, ce_loss)

    peak_lr, warm, mom = 0.2, 100, 0.9
    steps2 = 600
    velocity = tree_map(mx.zeros_like, probe.trainable_parameters())
    Xt, yt = mx.array(X_tr), mx.array(y_tr)
    Xe, ye = mx.array(X_te), mx.array(y_te)

    def evaluate():
        logits = probe(Xe)
        return (nn.losses.cross_entropy(logits, ye, reduction="mean").item(),
                (mx.argmax(logits, axis=1) == ye).mean().item())

    l0, a0 = evaluate()
    log(event="probe_init", test_ce=round(l0, 4), test_acc=round(a0, 4),
        trainable=[k for k, _ in tree_flatten(probe.trainable_parameters())])
    perm = rng.permutation(len(X_tr))
    pos = 0
    run = []
    for step in range(steps2):
        lr = peak_lr * min(1.0, step / warm)  # exactly 0 at step 0
        if pos + 64 > len(perm):
            perm, pos = rng.permutation(len(X_tr)), 0
        idx = mx.array(perm[pos:pos + 64])
        pos += 64
        loss, grads = probe_vg(probe, Xt[idx], yt[idx])
        if step == 0:
            log(event="gradcheck", stage="probe", lr=lr, leaves=len(tree_flatten(grads)),
                zero=zero_leaves(grads))
        velocity = tree_map(lambda v, g: mom * v + g, velocity, grads)
        probe.update(tree_map(lambda p, v: p - lr * v, probe.trainable_parameters(), velocity))
        mx.eval(probe.parameters(), velocity, loss)
        run.append(loss.item())
        if (step + 1) % 100 == 0:
            te_ce, te_acc = evaluate()
            log(event="probe", step=step + 1, lr=round(lr, 4),
                train_ce=round(float(np.mean(run)), 4), test_ce=round(te_ce, 4),
                test_acc=round(te_acc, 4), secs=round(time.time() - t0, 1))
            run = []

    drift = max(float(np.abs(np.array(v) - enc_before[k]).max())
                for k, v in tree_flatten(probe.encoder.parameters()))
    te_ce, te_acc = evaluate()
    log(event="done", encoder_max_change=drift, test_acc=round(te_acc, 4),
        test_ce=round(te_ce, 4))


if __name__ == "__main__":
    main()
