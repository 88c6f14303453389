"""Luthier's workshop: rank spruce tonewood plates from pairwise tap-test verdicts.

A 3-member reward-model ensemble (each member on its own bootstrap of verdicts)
learns a plate score; we then use it for best-of-n selection and compare the
true tone quality of the picked plate against a random pick and an oracle.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

N_FEAT = 6
rng = np.random.default_rng(11)


def true_quality(x):
    # hidden tone law: stiffness-to-density ratio, damping penalty, grain bonus
    ratio = x[:, 0] - 0.8 * x[:, 1]
    return (1.2 * np.tanh(ratio) - 0.5 * x[:, 2] ** 2 + 0.4 * np.sin(2.0 * x[:, 3])
            + 0.3 * x[:, 4] * x[:, 5])


def make_plates(n):
    return rng.normal(size=(n, N_FEAT)).astype(np.float32)


def make_verdicts(plates, n_pairs):
    q = true_quality(plates)
    a = rng.integers(0, len(plates), n_pairs)
    b = rng.integers(0, len(plates), n_pairs)
    keep = a != b
    a, b = a[keep], b[keep]
    p_a = 1.0 / (1.0 + np.exp(-(q[a] - q[b]) / 0.35))
    a_wins = rng.random(len(a)) < p_a
    win = np.where(a_wins, a, b)
    lose = np.where(a_wins, b, a)
    return win, lose


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1, bias=False)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def pair_loglik(model, xw, xl):
    # mean log-likelihood of the observed verdicts (negative; higher is better)
    return mx.mean(nn.log_sigmoid(model(xw) - model(xl)))


def neg_loglik(model, xw, xl):
    return -pair_loglik(model, xw, xl)


def train_member(k, plates, win, lose, steps=500, peak_lr=3e-4, warm=50):
    mx.random.seed(100 + k)
    model = Scorer()
    opt = optim.Lion(learning_rate=0.0, weight_decay=0.01)
    vg = nn.value_and_grad(model, neg_loglik)
    idx = rng.integers(0, len(win), len(win))  # bootstrap resample
    w, l = win[idx], lose[idx]
    X = mx.array(plates)
    for step in range(1, steps + 1):
        lr = peak_lr * min(1.0, (step - 1) / warm)  # exactly 0 on the first update
        opt.learning_rate = lr
        b = rng.integers(0, len(w), 128)
        loss, g = vg(model, X[mx.array(w[b])], X[mx.array(l[b])])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if step in (1, 2) or step % 125 == 0:
            print(f"member {k} step {step:3d}  lr {lr:.2e}  loglik {-loss.item():+.4f}")
    return model


def main():
    t0 = time.time()
    plates = make_plates(600)
    win, lose = make_verdicts(plates, 12000)
    test_plates = make_plates(400)
    tw, tl = make_verdicts(test_plates, 4000)
    Xt = mx.array(test_plates)
    qt = true_quality(test_plates)
    # the best any scorer can do on noisy verdicts: the hidden law itself
    ceiling = np.mean(np.log(1.0 / (1.0 + np.exp(-(qt[tw] - qt[tl]) / 0.35))))
    print(f"held-out verdicts {len(tw)} | loglik coin {math.log(0.5):+.4f} | hidden-law {ceiling:+.4f}")

    members = []
    for k in range(3):
        members.append(train_member(k, plates, win, lose))
        m = members[-1]
        ll = pair_loglik(m, Xt[mx.array(tw)], Xt[mx.array(tl)]).item()
        print(f"member {k} held-out loglik {ll:+.4f}")

    scores = mx.stack([m(Xt) for m in members])  # (3, N)
    mean_s, std_s = scores.mean(0), scores.std(0)
    ll_ens = mx.mean(nn.log_sigmoid(mean_s[mx.array(tw)] - mean_s[mx.array(tl)])).item()
    agree = np.mean(np.array(mean_s)[tw] > np.array(mean_s)[tl]) * 100
    print(f"ensemble held-out loglik {ll_ens:+.4f} | verdict agreement {agree:.1f}% "
          f"| mean member spread {std_s.mean().item():.3f}")

    # best-of-n: pick the highest ensemble score among n random plates
    ms = np.array(mean_s)
    print(" n | picked quality | random | oracle")
    for n in (1, 2, 4, 8, 16):
        picks, rand, orc = [], [], []
        for _ in range(2000):
            c = rng.choice(len(qt), n, replace=False)
            picks.append(qt[c[np.argmax(ms[c])]])
            rand.append(qt[c[0]])
            orc.append(qt[c].max())
        print(f"{n:2d} | {np.mean(picks):+.3f}         | {np.mean(rand):+.3f} | {np.mean(orc):+.3f}")
    print(f"finished in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
