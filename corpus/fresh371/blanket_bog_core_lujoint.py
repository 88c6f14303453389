"""Blanket-bog coring campaign: joint density of four lab readings per core slice.

Dense Glow-style flow on 4-D vectors. Each step is
    ActNorm (data-dependent initialisation on the first batch)
    -> invertible linear map in LU form (fixed permutation, unit-lower L,
       upper U whose diagonal is exp(log_s))
    -> affine coupling (first half conditions the second half).
The run is split into two sessions: session 1 trains and writes a checkpoint
(weights + optimizer state) to a temporary directory and exits its objects;
session 2 builds everything fresh (same architecture seed, so the fixed
permutations match), restores, checks the restore, and continues.
"""
import json
import math
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

D = 4
N_STEPS = 5
BATCH = 256
WARM = 150
PEAK = 3e-3


def cores(n, rng):
    """moisture index, pH, carbon fraction, bulk density (made-up peat law)."""
    depth = rng.uniform(0, 1, n)
    moist = 2.0 * np.tanh(3 * (depth - 0.4)) + rng.normal(0, 0.35, n)
    ph = 0.8 * np.sin(2.2 * moist) + rng.normal(0, 0.25, n)
    carbon = 0.6 * moist * ph + rng.standard_t(5, n) * 0.3
    humified = rng.random(n) < 0.3
    bulk = np.where(humified, 1.2 + 0.3 * moist, -0.8 - 0.2 * carbon) + rng.normal(0, 0.2, n)
    return np.stack([moist, ph, carbon, bulk], 1).astype(np.float32)


class ActNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.loc = mx.zeros((D,))
        self.log_scale = mx.zeros((D,))
        self.ready = False

    def initialise(self, x):
        m = mx.mean(x, axis=0)
        s = mx.sqrt(mx.var(x, axis=0)) + 1e-6
        self.loc = -m
        self.log_scale = -mx.log(s)
        self.ready = True

    def __call__(self, x):
        y = (x + self.loc) * mx.exp(self.log_scale)
        return y, mx.sum(self.log_scale) * mx.ones((x.shape[0],))


class LULinear(nn.Module):
    def __init__(self, rng):
        super().__init__()
        q, _ = np.linalg.qr(rng.normal(size=(D, D)))
        p = np.eye(D)[rng.permutation(D)]
        self._perm = mx.array(p.astype(np.float32))
        self.lower = mx.zeros((D, D))
        self.upper = mx.zeros((D, D))
        self.log_s = mx.zeros((D,))
        self._tril = mx.array(np.tril(np.ones((D, D)), -1).astype(np.float32))
        self._triu = mx.array(np.triu(np.ones((D, D)), 1).astype(np.float32))

    def weight(self):
        l = self.lower * self._tril + mx.eye(D)
        u = self.upper * self._triu + mx.diag(mx.exp(self.log_s))
        return self._perm @ l @ u

    def __call__(self, x):
        return x @ self.weight().T, mx.sum(self.log_s) * mx.ones((x.shape[0],))


class Coupling(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(),
                                 nn.Linear(64, 4))
        self.net.layers[-1].weight = mx.zeros_like(self.net.layers[-1].weight)
        self.net.layers[-1].bias = mx.zeros_like(self.net.layers[-1].bias)

    def __call__(self, x):
        a, b = x[:, :2], x[:, 2:]
        h = self.net(a)
        shift, raw = h[:, :2], h[:, 2:]
        log_s = 2.0 * mx.tanh(raw / 2.0)
        b = b * mx.exp(log_s) + shift
        return mx.concatenate([a, b], 1), mx.sum(log_s, axis=1)


class GlowStep(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.norm = ActNorm()
        self.mix = LULinear(rng)
        self.couple = Coupling()


class DenseGlow(nn.Module):
    def __init__(self, seed):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.steps = [GlowStep(rng) for _ in range(N_STEPS)]

    def data_init(self, x):
        for st in self.steps:
            st.norm.initialise(x)
            x, _ = st.norm(x)
            x, _ = st.mix(x)
            x, _ = st.couple(x)

    def log_prob(self, x):
        ld = mx.zeros((x.shape[0],))
        for st in self.steps:
            for layer in (st.norm, st.mix, st.couple):
                x, l = layer(x)
                ld = ld + l
        base = -0.5 * mx.sum(x * x, axis=1) - 0.5 * D * math.log(2 * math.pi)
        return base + ld


def nll(model, x):
    return -mx.mean(model.log_prob(x))


def schedule():
    warm = optim.linear_schedule(0.0, PEAK, WARM)
    decay = optim.cosine_decay(PEAK, 2400, 1e-4)
    return optim.join_schedules([warm, decay], [WARM])


def say(session, **kw):
    body = " ".join(f"{k}={v}" for k, v in kw.items())
    print(f"[bog {session}] {body}", flush=True)


def run_epochs(session, model, opt, xt, xv, rng, first, last, t0):
    step_fn = nn.value_and_grad(model, nll)
    n = xt.shape[0]
    for ep in range(first, last + 1):
        perm = rng.permutation(n)
        tot, k = 0.0, 0
        for i in range(0, n - BATCH + 1, BATCH):
            loss, grads = step_fn(model, xt[mx.array(perm[i:i + BATCH])])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            k += 1
        v = nll(model, xv).item()
        say(session, epoch=ep, step=int(opt.step.item()), lr=f"{opt.learning_rate.item():.2e}",
            train_nll=f"{tot / k:+.4f}", valid_nll=f"{v:+.4f}", secs=f"{time.time() - t0:.1f}")
    return v


def main():
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    train = cores(16000, rng)
    valid = cores(4000, rng)
    xt, xv = mx.array(train), mx.array(valid)

    mu, cov = train.mean(0), np.cov(train.T)
    d = valid - mu
    ref = float(np.mean(0.5 * np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d))
                + 0.5 * np.linalg.slogdet(cov)[1] + 0.5 * D * math.log(2 * math.pi))
    say("setup", train=len(train), valid=len(valid), dims=D,
        gaussian_valid_nll=f"{ref:+.4f}")

    t0 = time.time()
    model = DenseGlow(seed=11)
    model.data_init(xt[:1024])
    mx.eval(model.parameters())
    say("s1", event="actnorm_init", valid_nll=f"{nll(model, xv).item():+.4f}")

    opt = optim.Adam(learning_rate=schedule())
    _, g = nn.value_and_grad(model, nll)(model, xt[:BATCH])
    leaves = tree_flatten(g)
    dead = sum(1 for _, a in leaves if float(mx.abs(a).max()) == 0.0)
    say("s1", event="grad_check", arrays=len(leaves), zero_arrays=dead,
        note="coupling output layers start at zero, so the hidden layers behind them get gradient from step 2 on")

    run_epochs("s1", model, opt, xt, xv, rng, 1, 4, t0)
    saved_valid = nll(model, xv).item()

    ckdir = tempfile.mkdtemp(prefix="bogcore_")
    model.save_weights(os.path.join(ckdir, "flow.safetensors"))
    mx.save_safetensors(os.path.join(ckdir, "adam.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(ckdir, "meta.json"), "w") as f:
        json.dump({"epoch": 4, "valid_nll": saved_valid}, f)
    say("s1", event="checkpoint", dir=os.path.basename(ckdir), valid_nll=f"{saved_valid:+.4f}")
    del model, opt

    model = DenseGlow(seed=11)
    model.load_weights(os.path.join(ckdir, "flow.safetensors"))
    opt = optim.Adam(learning_rate=schedule())
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "adam.safetensors")).items()))
    mx.eval(model.parameters(), opt.state)
    with open(os.path.join(ckdir, "meta.json")) as f:
        meta = json.load(f)
    restored = nll(model, xv).item()
    say("s2", event="restored", from_epoch=meta["epoch"], valid_nll=f"{restored:+.4f}",
        matches=abs(restored - meta["valid_nll"]) < 1e-5, step=int(opt.step.item()),
        lr=f"{opt.learning_rate.item():.2e}")

    final = run_epochs("s2", model, opt, xt, xv, rng, 5, 9, t0)

    w = [np.array(st.mix.weight()) for st in model.steps]
    sld = [float(np.linalg.slogdet(m)[1]) for m in w]
    lsum = [float(mx.sum(st.mix.log_s)) for st in model.steps]
    gap = max(abs(a - b) for a, b in zip(sld, lsum))
    say("done", valid_nll=f"{final:+.4f}", gaussian=f"{ref:+.4f}",
        gain_nats=f"{ref - final:.4f}", lu_logdet_check=f"{gap:.1e}")
    shutil.rmtree(ckdir)


if __name__ == "__main__":
    main()
