"""Hop kiln ripeness grading with virtual adversarial training.

Only a handful of kiln samples are graded by hand (green / ripe / overripe);
thousands of ungraded readings come from the same kiln. The model is trained
with cross-entropy on the graded samples plus a virtual adversarial smoothness
term (Miyato et al.) on all readings. A plain supervised model trained on the
graded samples alone is printed beside it as a reference.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 11
N_FEAT = 8
N_CLASS = 3
STEPS = 700
WARMUP = 60
RAMP = 250
VAT_EPS = 0.6
VAT_XI = 1e-2
BATCH_U = 256

rng = np.random.default_rng(SEED)


def make_readings(n):
    """alpha acids, moisture, lupulin colour, cone density, aroma index, ...
    ripeness follows a curved path through the reading space."""
    cls = rng.integers(0, 3, size=n)
    t = cls * 1.1 + rng.uniform(0.0, 0.8, size=n)
    base = np.stack([
        np.cos(1.1 * t) * 2.0,
        np.sin(1.1 * t) * 2.0,
        0.7 * t,
        np.cos(2.0 * t),
        -0.5 * t + 0.3 * np.sin(3 * t),
        np.sin(0.6 * t) * 1.5,
        0.2 * t ** 2,
        np.cos(0.4 * t),
    ], axis=1)
    x = base + 0.45 * rng.normal(size=base.shape)
    return x.astype(np.float32), cls


x_all, y_all = make_readings(4500)
x_test, y_test = make_readings(1500)
mu, sd = x_all.mean(0), x_all.std(0) + 1e-6
x_all = (x_all - mu) / sd
x_test = (x_test - mu) / sd

# 3 graded samples per class
lab_idx = np.concatenate([np.where(y_all == c)[0][:3] for c in range(N_CLASS)])
x_lab, y_lab = mx.array(x_all[lab_idx]), mx.array(y_all[lab_idx])
x_unl = x_all
xt, yt = mx.array(x_test), mx.array(y_test)


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, N_CLASS)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h)


def unit(d):
    return d / (mx.sqrt(mx.sum(d * d, axis=1, keepdims=True)) + 1e-8)


def log_softmax(z):
    return z - mx.logsumexp(z, axis=1, keepdims=True)


def kl_logits(p_logits, q_logits):
    p = mx.softmax(p_logits, axis=1)
    return mx.mean(mx.sum(p * (log_softmax(p_logits) - log_softmax(q_logits)), axis=1))


def vat_term(model, xu):
    clean = mx.stop_gradient(model(xu))
    d = unit(mx.random.normal(xu.shape))

    def probe(d):
        return kl_logits(clean, model(xu + VAT_XI * d))

    g = mx.grad(probe)(d)
    r_adv = VAT_EPS * unit(mx.stop_gradient(g))
    return kl_logits(clean, model(xu + r_adv))


def accuracy(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=1) == y).item()


def lr_at(step, peak):
    if step < WARMUP:
        return peak * step / WARMUP
    frac = (step - WARMUP) / max(1, STEPS - WARMUP)
    return peak * 0.5 * (1 + np.cos(np.pi * frac))


def train(use_vat, tag):
    mx.random.seed(SEED)
    model = Grader()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=0.0)
    peak = 3e-3

    def loss_fn(model, xl, yl, xu, w):
        sup = nn.losses.cross_entropy(model(xl), yl, reduction="mean")
        if use_vat:
            lds = vat_term(model, xu)
        else:
            lds = mx.array(0.0)
        return sup + w * lds, (sup, lds)

    step_fn = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for step in range(STEPS):
        opt.learning_rate = lr_at(step, peak)
        w = min(1.0, step / RAMP) if use_vat else 0.0
        ub = x_unl[rng.integers(0, len(x_unl), size=BATCH_U)]
        (loss, (sup, lds)), grads = step_fn(model, x_lab, y_lab, mx.array(ub), mx.array(w))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 100 == 0 or step == STEPS - 1:
            print(f"[{tag}] step {step:4d} lr {opt.learning_rate.item():.5f} vat_w {w:.2f} "
                  f"loss {loss.item():.4f} sup {sup.item():.4f} lds {lds.item():.4f} "
                  f"test_acc {accuracy(model, xt, yt):.3f} ({time.time() - t0:.1f}s)", flush=True)
    return model


print(f"graded samples {len(lab_idx)}, ungraded readings {len(x_unl)}, test {len(x_test)}")
base = train(False, "supervised-only")
semi = train(True, "vat")
acc_base = accuracy(base, xt, yt)
acc_semi = accuracy(semi, xt, yt)
majority = np.bincount(y_test).max() / len(y_test)
print(f"test accuracy: majority-class {majority:.3f} | supervised-only {acc_base:.3f} | vat {acc_semi:.3f}")
print(f"vat gain over supervised-only: {acc_semi - acc_base:+.3f}")
