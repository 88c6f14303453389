"""Reptile terrarium log: 4-way shedding stage (normal / pre-shed blue /
shedding / stuck shed) from 10 enclosure and animal readings.  Keeper labels
are noisy (about 12% mislabelled).  Every 4 epochs the full held-out log is
scored with Monte-Carlo dropout (16 stochastic passes) and a bootstrap
interval, which takes much longer than an epoch of training.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

STAGES = ["normal", "blue", "shedding", "stuck"]


def simulate(rng, n):
    hum = rng.uniform(20, 90, n)
    temp = rng.uniform(22, 36, n)
    days = rng.uniform(0, 45, n)
    appetite = rng.uniform(0, 1, n)
    eye = rng.uniform(0, 1, n)
    rub = rng.poisson(2.0, n).astype(float)
    soak = rng.uniform(0, 1, n)
    weight = rng.normal(0, 1, n)
    uvb = rng.uniform(0, 12, n)
    noise_col = rng.normal(0, 1, n)
    phase = np.clip(days / 30.0, 0, 1.5)
    logits = np.stack([
        2.0 - 4.0 * phase + 1.5 * appetite,
        -1.0 + 3.0 * np.exp(-((phase - 0.8) ** 2) / 0.05) + 2.5 * eye - 1.0 * appetite,
        -1.5 + 4.0 * (phase > 0.95) + 0.6 * rub + 0.02 * (hum - 50),
        -3.0 + 3.5 * (phase > 1.1) - 0.06 * (hum - 50) - 1.5 * soak + 0.05 * (temp - 29) ** 2,
    ], 1)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(4, p=pi) for pi in p])
    flip = rng.uniform(size=n) < 0.12
    y_obs = np.where(flip, rng.integers(0, 4, n), y)
    X = np.stack([hum, temp, days, appetite, eye, rub, soak, weight, uvb, noise_col], 1)
    return X.astype(np.float32), y_obs.astype(np.int32)


class ShedNet(nn.Module):
    def __init__(self, d_in=10, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(width, 4)

    def __call__(self, x):
        h = self.drop(nn.relu(self.l1(x)))
        h = self.drop(nn.relu(self.l2(h)))
        return self.head(h)


def mc_dropout_eval(model, X, y, passes, rng):
    model.train()  # keep dropout active on purpose
    probs = mx.zeros((X.shape[0], 4))
    for _ in range(passes):
        probs = probs + mx.softmax(model(X), axis=-1)
        mx.eval(probs)
    probs = probs / passes
    nll = float(mx.mean(-mx.log(mx.take_along_axis(probs, y[:, None], axis=1) + 1e-9)))
    correct = np.array(mx.argmax(probs, axis=1) == y)
    boots = [correct[rng.integers(0, len(correct), len(correct))].mean() for _ in range(400)]
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return nll, correct.mean(), lo, hi


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(2024)
    mx.random.seed(2024)
    X, y = simulate(rng, 60000)
    n_tr = 30000
    mu, sd = X[:n_tr].mean(0), X[:n_tr].std(0)
    Xtr, ytr = mx.array((X[:n_tr] - mu) / sd), mx.array(y[:n_tr])
    Xte, yte = mx.array((X[n_tr:] - mu) / sd), mx.array(y[n_tr:])
    counts = np.bincount(y[:n_tr], minlength=4)
    majority = float(np.mean(y[n_tr:] == counts.argmax()))
    print(f"terrarium log: {n_tr} train / {Xte.shape[0]} held-out records; "
          f"stage shares {', '.join(f'{s} {c / n_tr:.2f}' for s, c in zip(STAGES, counts))}")

    # linear reference model, full batch
    lin = nn.Linear(10, 4)
    lopt = optim.Adam(learning_rate=0.05)
    lg = nn.value_and_grad(lin, lambda m, x, t: nn.losses.cross_entropy(m(x), t, reduction="mean"))
    for _ in range(200):
        l, g = lg(lin, Xtr, ytr)
        lopt.update(lin, g)
        mx.eval(lin.parameters(), lopt.state)
    lin_acc = float(mx.mean(mx.argmax(lin(Xte), axis=1) == yte))
    lin_nll = float(nn.losses.cross_entropy(lin(Xte), yte, reduction="mean"))
    print(f"references on held-out: majority-stage acc {majority:.3f}; linear softmax acc {lin_acc:.3f}, nll {lin_nll:.3f}")

    model = ShedNet()
    mx.eval(model.parameters())
    epochs, bs, drop_at = 12, 128, 8
    steps_per_epoch = n_tr // bs
    sched = optim.step_decay(0.05, 0.1, drop_at * steps_per_epoch)
    opt = optim.SGD(learning_rate=sched, momentum=0.9)
    loss_and_grad = nn.value_and_grad(model, lambda m, x, t: nn.losses.cross_entropy(m(x), t, reduction="mean"))

    for ep in range(1, epochs + 1):
        model.train()
        te = time.perf_counter()
        perm = mx.array(rng.permutation(n_tr))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            loss, grads = loss_and_grad(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
        train_s = time.perf_counter() - te
        print(f"epoch {ep:2d}  lr {float(opt.learning_rate):.4f}  train ce {tot / steps_per_epoch:.4f}  "
              f"({train_s:.1f}s)", flush=True)
        if ep % 4 == 0:
            tv = time.perf_counter()
            nll, acc, lo, hi = mc_dropout_eval(model, Xte, yte, 16, rng)
            print(f"  held-out (MC dropout x16): nll {nll:.4f}  acc {acc:.3f} [{lo:.3f}, {hi:.3f}]  "
                  f"vs linear {lin_acc:.3f}  ({time.perf_counter() - tv:.1f}s)", flush=True)

    model.eval()
    det_acc = float(mx.mean(mx.argmax(model(Xte), axis=1) == yte))
    print(f"done: deterministic held-out acc {det_acc:.3f} (linear {lin_acc:.3f}, majority {majority:.3f}); "
          f"wall {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
