"""Field-recorder bird call ID: distil a big classifier into a tiny one.

Five wren-like species are told apart from 16 spectral summary features of a
call (peak frequency, bandwidth, trill rate, syllable length, harmonic ratios,
...).  Three models are trained in turn in this one script:

  1. a TEACHER MLP (16-128-128-5, dropout) on the labelled calls;
  2. a tiny STUDENT (16-12-5) on the hard labels only (baseline);
  3. the same tiny STUDENT, from the same initial weights, distilled from the
     frozen teacher (KL at temperature 4, times T^2, plus 0.3 x hard-label CE).

The reported error rate is a percentage of misidentified test calls (lower is
better); "nll" is the test cross-entropy in nats.
"""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

SPECIES = ["house", "winter", "carolina", "bewick", "marsh"]


def make_calls(n, rng):
    k = len(SPECIES)
    y = rng.integers(0, k, n)
    centres = np.random.default_rng(5).normal(0, 1.0, (k, 6))
    latent = centres[y] + rng.normal(0, 0.9, (n, 6))
    mix = np.random.default_rng(6).normal(0, 1.0, (6, 16)) / np.sqrt(6)
    x = np.tanh(latent @ mix) * 2.0 + 0.3 * np.sin(3 * latent @ mix) + rng.normal(0, 0.25, (n, 16))
    return x.astype(np.float32), y.astype(np.int32)


class MLP(nn.Module):
    def __init__(self, sizes, p_drop=0.0):
        super().__init__()
        self.layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        self.drop = nn.Dropout(p_drop)

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = self.drop(nn.gelu(layer(x)))
        return self.layers[-1](x)


def out(line=""):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def evaluate(model, x, y):
    model.eval()
    logits = model(x)
    nll = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    err = 100.0 * (mx.argmax(logits, axis=1) != y).astype(mx.float32).mean().item()
    model.train()
    return nll, err


def train(name, model, loss_fn, opt, data, epochs, batch, report_every, rng):
    xtr, ytr, xte, yte = data
    vg = nn.value_and_grad(model, loss_fn)
    n = xtr.shape[0]
    steps_per_epoch = n // batch
    out(f"--- {name} ---")
    nll, err = evaluate(model, xte, yte)
    out(f"{'epoch':>5} {'train_loss':>11} {'test_nll':>9} {'test_err%':>9} {'secs':>6}")
    out(f"{0:>5} {'-':>11} {nll:>9.4f} {err:>9.2f} {0.0:>6.1f}")
    t0 = time.time()
    first = True
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * batch:(b + 1) * batch]
            loss, grads = vg(model, idx)
            if first:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if not mx.any(g != 0).item()]
                out(f"  first-step gradients: {len(flat)} trainable leaves, zero: {zero or 'none'}")
                first = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        if ep % report_every == 0 or ep == 1:
            nll, err = evaluate(model, xte, yte)
            out(f"{ep:>5} {tot / steps_per_epoch:>11.4f} {nll:>9.4f} {err:>9.2f} {time.time() - t0:>6.1f}")
    return evaluate(model, xte, yte)


def main():
    rng = np.random.default_rng(2024)
    xtr, ytr = make_calls(3000, rng)
    xte, yte = make_calls(3000, rng)
    m, s = xtr.mean(0), xtr.std(0)
    xtr, xte = (xtr - m) / s, (xte - m) / s
    xtr, ytr, xte, yte = map(mx.array, (xtr, ytr, xte, yte))
    data = (xtr, ytr, xte, yte)
    out(f"calls: train {xtr.shape[0]}  test {xte.shape[0]}  species {len(SPECIES)}  "
        f"chance error {100 * (1 - 1 / len(SPECIES)):.0f}%")

    # 1. teacher
    mx.random.seed(1)
    teacher = MLP([16, 128, 128, 5], p_drop=0.2)

    def teacher_loss(mdl, idx):
        return nn.losses.cross_entropy(mdl(xtr[idx]), ytr[idx], reduction="mean")

    t_nll, t_err = train("teacher 16-128-128-5, Adam 1e-3", teacher, teacher_loss,
                         optim.Adam(1e-3), data, epochs=20, batch=64, report_every=5, rng=rng)

    teacher.eval()
    teacher.freeze()
    T = 4.0
    soft = mx.softmax(mx.stop_gradient(teacher(xtr)) / T, axis=-1)  # fixed soft targets
    mx.eval(soft)
    teacher_before = tree_map(lambda a: mx.array(a), teacher.parameters())

    # 2. + 3. tiny students from one shared initialisation
    mx.random.seed(7)
    init = MLP([16, 12, 5])
    init_params = tree_map(lambda a: mx.array(a), init.parameters())
    mx.eval(init_params)

    def fresh_student():
        st = MLP([16, 12, 5])
        st.update(tree_map(lambda a: mx.array(a), init_params))
        return st

    def hard_loss(mdl, idx):
        return nn.losses.cross_entropy(mdl(xtr[idx]), ytr[idx], reduction="mean")

    def distil_loss(mdl, idx):
        logits = mdl(xtr[idx])
        logp = nn.log_softmax(logits / T, axis=-1)
        q = soft[idx]
        kl = mx.sum(q * (mx.log(q + 1e-9) - logp), axis=-1).mean()
        ce = nn.losses.cross_entropy(logits, ytr[idx], reduction="mean")
        return 0.7 * (T * T) * kl + 0.3 * ce

    def sgd():
        return optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)

    b_nll, b_err = train("student 16-12-5, hard labels, SGD-nesterov", fresh_student(), hard_loss,
                         sgd(), data, epochs=30, batch=64, report_every=10, rng=rng)
    d_nll, d_err = train("student 16-12-5, distilled (T=4), SGD-nesterov", fresh_student(), distil_loss,
                         sgd(), data, epochs=30, batch=64, report_every=10, rng=rng)

    drift = max(mx.abs(a - b).max().item() for (_, a), (_, b) in
                zip(tree_flatten(teacher.parameters()), tree_flatten(teacher_before)))
    out("=" * 52)
    out(f"{'model':<22} {'test_nll':>9} {'test_err%':>9}")
    out(f"{'teacher':<22} {t_nll:>9.4f} {t_err:>9.2f}")
    out(f"{'student (labels)':<22} {b_nll:>9.4f} {b_err:>9.2f}")
    out(f"{'student (distilled)':<22} {d_nll:>9.4f} {d_err:>9.2f}")
    out("=" * 52)
    out(f"teacher max weight change during distillation: {drift:.1e}")


if __name__ == "__main__":
    main()
