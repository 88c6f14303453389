"""Cider mill apple sorting: a relay of three graders.

Five sorting bins from twelve synthetic press-line readings. A wide grader is
fitted on the labels, then a middle-sized grader learns from it, then a small
grader learns from the middle one (teacher -> assistant -> student). Each
hand-off uses T^2 * KL(upstream || downstream) at temperature 3 plus 0.2 * CE;
every upstream grader is frozen before it is used. Each grader has its own
optimizer with a step-decay schedule, so the step counter starts again at 1.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 11
N_TRAIN, N_TEST, FEAT, BINS = 8000, 2000, 12, 5
T, ALPHA = 3.0, 0.8


def press_line(n, rng):
    x = rng.normal(size=(n, FEAT)).astype(np.float32)
    proj = rng.normal(size=(FEAT, 6)) / np.sqrt(FEAT)
    z = np.tanh(x @ proj * 1.7)
    w = rng.normal(size=(6, BINS)) * 2.0
    logits = z @ w + 0.4 * np.sin(2.0 * x[:, :BINS])
    g = -np.log(-np.log(rng.uniform(1e-9, 1.0, size=logits.shape)))
    return x, np.argmax(logits + 0.5 * g, axis=1).astype(np.int32)


def grader(width, depth):
    layers, d = [], FEAT
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.SiLU()]
        d = width
    layers.append(nn.Linear(d, BINS))
    return nn.Sequential(*layers)


def handoff_loss(model, xb, yb, up_logits):
    logits = model(xb)
    ce = nn.losses.cross_entropy(logits, yb, reduction="mean")
    if up_logits is None:
        return ce, (ce, mx.array(0.0))
    lp_up = nn.log_softmax(up_logits / T, axis=-1)
    lp = nn.log_softmax(logits / T, axis=-1)
    kl = mx.mean(mx.sum(mx.exp(lp_up) * (lp_up - lp), axis=-1)) * T * T
    return ALPHA * kl + (1 - ALPHA) * ce, (ce, kl)


def accuracy(model, x, y):
    return mx.mean(mx.argmax(model(x), -1) == y).item()


def fit(name, model, upstream, data, epochs, lr, batch, rng):
    x_tr, y_tr, x_te, y_te = data
    steps_per_epoch = N_TRAIN // batch
    sched = optim.step_decay(lr, 0.5, steps_per_epoch * max(1, epochs // 3))
    opt = optim.Adam(learning_rate=sched)
    up_all = None
    if upstream is not None:
        up_all = mx.stop_gradient(upstream(x_tr))
        mx.eval(up_all)
    vg = nn.value_and_grad(model, handoff_loss)
    n_w = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"[{name}] {n_w} weights, {epochs} epochs, Adam step-decay from {lr:g}")
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(N_TRAIN).astype(np.int32))
        s_obj = s_ce = s_kl = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * batch:(i + 1) * batch]
            up = None if up_all is None else up_all[idx]
            (obj, (ce, kl)), g = vg(model, x_tr[idx], y_tr[idx], up)
            if ep == 1 and i == 0:
                leaves = tree_flatten(g)
                nz = sum(1 for _, a in leaves if mx.any(a != 0).item())
                print(f"[{name}] first step: {nz}/{len(leaves)} gradient leaves non-zero")
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, obj, ce, kl)
            s_obj += obj.item(); s_ce += ce.item(); s_kl += kl.item()
        k = steps_per_epoch
        line = (f"[{name}] ep {ep:2d} step {int(opt.step.item()):5d} lr {opt.learning_rate.item():.2e}"
                f" obj {s_obj / k:.4f} ce {s_ce / k:.4f}")
        if upstream is not None:
            agree = mx.mean(mx.argmax(model(x_te), -1) == mx.argmax(upstream(x_te), -1)).item()
            line += f" kl {s_kl / k:.4f} agree {100 * agree:5.1f}%"
        line += f" test acc {100 * accuracy(model, x_te, y_te):5.1f}%"
        print(line)
    model.eval()
    model.freeze()
    return model


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    x, y = press_line(N_TRAIN + N_TEST, rng)
    x = (x - x[:N_TRAIN].mean(0)) / x[:N_TRAIN].std(0)
    data = (mx.array(x[:N_TRAIN]), mx.array(y[:N_TRAIN]),
            mx.array(x[N_TRAIN:]), mx.array(y[N_TRAIN:]))
    share = np.bincount(y[N_TRAIN:], minlength=BINS) / N_TEST
    print(f"press line: {N_TRAIN} train / {N_TEST} test apples, bin shares "
          + " ".join(f"{s:.2f}" for s in share) + f", majority bin {100 * share.max():.1f}%")

    teacher = fit("wide", grader(128, 3), None, data, 5, 2e-3, 64, rng)
    snap = [(k, np.array(v)) for k, v in tree_flatten(teacher.parameters())]
    assistant = fit("middle", grader(48, 2), teacher, data, 6, 3e-3, 64, rng)
    student = fit("small", grader(10, 1), assistant, data, 8, 1e-2, 128, rng)
    direct = fit("small-direct", grader(10, 1), teacher, data, 8, 1e-2, 128, rng)

    drift = max(float(np.abs(np.array(v) - s).max())
                for (k, v), (_, s) in zip(tree_flatten(teacher.parameters()), snap))
    print(f"summary: wide {100 * accuracy(teacher, data[2], data[3]):.1f}%  "
          f"middle {100 * accuracy(assistant, data[2], data[3]):.1f}%  "
          f"small via middle {100 * accuracy(student, data[2], data[3]):.1f}%  "
          f"small direct {100 * accuracy(direct, data[2], data[3]):.1f}%  "
          f"majority {100 * share.max():.1f}%")
    print(f"wide grader weight drift during hand-offs: {drift:.1e}; total {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
