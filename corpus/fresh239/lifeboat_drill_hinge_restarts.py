"""Lifeboat station drill review: learn a readiness score for launch drills from
pairwise coxswain judgements ("drill A was sharper than drill B").

Scorer: small MLP with a bias-free head. Loss: mlx.nn.losses.margin_ranking_loss
(hinge on the score gap, margin 0.3). Optimizer: Adagrad whose learning rate
follows cosine cycles with warm restarts (cycle lengths 60, 120, 240 steps), so
the lr jumps back up at every restart. Output is CSV.
"""

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

FEATS = ["muster_s", "launch_s", "comms_err", "crew_rest_h", "sea_state", "kit_checks",
         "night", "trainees"]
CYCLES = [60, 120, 240]
LR_MAX, LR_MIN = 0.08, 0.004
BATCH = 128


def readiness(x):
    return (-1.2 * x[:, 0] - 0.9 * x[:, 1] - 0.7 * np.tanh(2 * x[:, 2]) + 0.5 * x[:, 3]
            - 0.4 * x[:, 4] * (1 + x[:, 6]) + 0.6 * x[:, 5] - 0.3 * x[:, 7] ** 2)


def make_pairs(rng, items, q, n):
    i = rng.integers(0, len(items), n)
    j = rng.integers(0, len(items), n)
    keep = i != j
    i, j = i[keep], j[keep]
    noisy = (q[i] - q[j]) + rng.normal(0, 0.5, len(i))
    y = np.where(noisy > 0, 1.0, -1.0)
    return i, j, y


def kendall_tau(a, b):
    n = len(a)
    s = 0
    for k in range(n - 1):
        s += np.sum(np.sign(a[k] - a[k + 1:]) * np.sign(b[k] - b[k + 1:]))
    return s / (n * (n - 1) / 2)


class Scorer(nn.Module):
    def __init__(self, d=8, h=48):
        super().__init__()
        self.l1 = nn.Linear(d, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1, bias=False)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))[:, 0]


def lr_at(step):
    start = 0
    for c, length in enumerate(CYCLES):
        if step < start + length:
            t = (step - start) / length
            return c + 1, LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + np.cos(np.pi * t))
        start += length
    return len(CYCLES), LR_MIN


def main():
    rng = np.random.default_rng(21)
    mx.random.seed(21)
    train_items = rng.normal(size=(1500, 8)).astype(np.float32)
    test_items = rng.normal(size=(300, 8)).astype(np.float32)
    q_train, q_test = readiness(train_items), readiness(test_items)
    ti, tj, ty = make_pairs(rng, train_items, q_train, 30000)
    X = mx.array(train_items)
    Xt = mx.array(test_items)

    # references on the held-out drills
    best_single = max(abs(kendall_tau(test_items[:, k], q_test)) for k in range(8))
    vi, vj, vy = make_pairs(np.random.default_rng(99), test_items, q_test, 4000)
    judge_agree = np.mean(np.sign(q_test[vi] - q_test[vj]) == vy)

    model = Scorer()
    opt = optim.Adagrad(learning_rate=LR_MAX)
    mx.eval(model.parameters())

    def loss_fn(m, a, b, y):
        return nn.losses.margin_ranking_loss(m(a), m(b), y, margin=0.3, reduction="mean")

    step_fn = nn.value_and_grad(model, loss_fn)
    total = sum(CYCLES)
    print("# ref,best_single_feature_tau,%.3f" % best_single)
    print("# ref,judge_vs_truth_agreement,%.3f" % judge_agree)
    print("step,cycle,lr,hinge_window,test_pair_agree,test_kendall_tau,secs")
    t0 = time.time()
    window = []
    restart_steps = set(np.cumsum(CYCLES)[:-1].tolist())
    for step in range(total):
        cycle, lr = lr_at(step)
        opt.learning_rate = lr
        idx = rng.integers(0, len(ti), BATCH)
        a, b, y = X[mx.array(ti[idx])], X[mx.array(tj[idx])], mx.array(ty[idx])
        loss, grads = step_fn(model, a, b, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(float(loss))
        done = step + 1
        if done % 30 == 0 or done in restart_steps or done == total:
            s = np.array(model(Xt))
            agree = np.mean(np.sign(s[vi] - s[vj]) == vy)
            tau = kendall_tau(s, q_test)
            print(f"{done},{cycle},{lr:.4f},{np.mean(window):.4f},{agree:.3f},{tau:.3f},"
                  f"{time.time() - t0:.1f}")
            window = []
    s = np.array(model(Xt))
    print("# final,kendall_tau,%.3f,best_single_feature,%.3f" % (kendall_tau(s, q_test), best_single))


if __name__ == "__main__":
    main()
