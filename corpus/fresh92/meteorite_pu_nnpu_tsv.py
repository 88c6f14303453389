"""Meteorite or terrestrial rock?  Positive-unlabelled (PU) learning with the
non-negative PU risk (Kiryo et al. 2017).

A desert search team only ever *confirms* meteorites (lab-verified finds); the
rest of the field bag is an unlabelled mix of meteorites and ordinary rocks.
We know from earlier surveys that about 30% of picked-up dark stones are
meteorites (class prior pi).  We train a small MLP with the nnPU estimator and
check it against a separate, fully lab-classified test bag.

Output: tab-separated rows (one per epoch) after '#' comment lines.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FEATURES = ["log_mag_susc", "density", "crust_dark", "ni_xrf", "weathering",
            "chondrule_idx", "metal_flecks", "roundness"]
PI = 0.30        # class prior of meteorites among unlabelled stones
BETA = 0.0       # nnPU threshold
GAMMA = 1.0      # nnPU back-off strength


def simulate(rng, n, pi):
    y = (rng.random(n) < pi).astype(np.int64)
    z = rng.normal(size=(n, len(FEATURES)))
    x = np.empty_like(z)
    # meteorites: magnetic, dense, dark crust, nickel, metal flecks
    x[:, 0] = 0.9 * y + 0.8 * z[:, 0]
    x[:, 1] = 0.6 * y + 0.7 * z[:, 1] + 0.3 * z[:, 0]
    x[:, 2] = 0.7 * y * (1.0 - 0.4 * np.tanh(z[:, 4])) + 0.8 * z[:, 2]
    x[:, 3] = 0.8 * y + 0.9 * z[:, 3]
    x[:, 4] = 0.6 * z[:, 4] - 0.2 * y
    x[:, 5] = 0.5 * y * (z[:, 5] > -0.3) + 0.9 * z[:, 5]
    x[:, 6] = 0.4 * y + 0.5 * y * z[:, 0] + 0.9 * z[:, 6]
    x[:, 7] = 0.9 * z[:, 7]
    return x.astype(np.float32), y


class StoneNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


def sigmoid_loss(g, sign):
    # l(g, +1) = sigmoid(-g), l(g, -1) = sigmoid(g)
    return mx.sigmoid(-sign * g)


def nnpu_loss(model, xp, xu):
    gp = model(xp)
    gu = model(xu)
    r_p_plus = sigmoid_loss(gp, 1.0).mean()
    r_p_minus = sigmoid_loss(gp, -1.0).mean()
    r_u_minus = sigmoid_loss(gu, -1.0).mean()
    neg_part = r_u_minus - PI * r_p_minus
    # the quantity we report: the non-negative risk
    risk = PI * r_p_plus + mx.maximum(neg_part, 0.0)
    # the quantity we differentiate: plain risk, or the nnPU back-off step
    # (gradient ascent on the negative part) when it has gone below -beta
    objective = mx.where(neg_part >= -BETA,
                         PI * r_p_plus + neg_part,
                         -GAMMA * neg_part)
    return objective, (risk, neg_part)


def evaluate(model, x, y):
    g = np.array(model(mx.array(x)))
    pred = (g > 0).astype(np.int64)
    err = float((pred != y).mean())
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    f1 = 2 * tp / max(1, 2 * tp + fp + fn)
    return err, f1


def main():
    rng = np.random.default_rng(17)
    mx.random.seed(17)

    # labelled positives: confirmed finds (drawn from the meteorite class only)
    xall, yall = simulate(rng, 20000, 0.5)
    xp = xall[yall == 1][:1500]
    # unlabelled field bag with the survey prior
    xu, yu_hidden = simulate(rng, 9000, PI)
    xt, yt = simulate(rng, 4000, PI)

    mu, sd = xu.mean(0), xu.std(0)
    xp, xu, xt = (xp - mu) / sd, (xu - mu) / sd, (xt - mu) / sd

    print(f"# positives(labelled)={len(xp)} unlabelled={len(xu)} "
          f"(hidden meteorite share {yu_hidden.mean():.3f}) test={len(xt)}")
    print(f"# class prior pi={PI}  always-'terrestrial' test error="
          f"{100 * yt.mean():.1f}%")

    model = StoneNet(len(FEATURES))
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=1e-3, betas=[0.9, 0.999])
    vg = nn.value_and_grad(model, nnpu_loss)

    bp, bu = 64, 384
    steps_per_epoch = len(xu) // bu

    # first-step gradient check on one batch
    (_, _), grads = vg(model, mx.array(xp[:bp]), mx.array(xu[:bu]))
    leaves = tree_flatten(grads)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    print(f"# gradient leaves={len(leaves)} all-zero={zero}")

    err0, f10 = evaluate(model, xt, yt)
    print("\t".join(["epoch", "steps", "backoff_steps", "nn_risk",
                     "neg_part_min", "test_err_pct", "test_f1", "secs"]))
    print("\t".join(["0", "0", "0", "-", "-", f"{100 * err0:.2f}",
                     f"{f10:.3f}", "0.0"]))

    t0 = time.time()
    step = 0
    for epoch in range(1, 21):
        perm_u = rng.permutation(len(xu))
        backoff = 0
        risks = []
        neg_min = float("inf")
        for i in range(steps_per_epoch):
            iu = perm_u[i * bu:(i + 1) * bu]
            ip = rng.integers(0, len(xp), size=bp)
            (obj, (risk, neg)), grads = vg(model, mx.array(xp[ip]),
                                           mx.array(xu[iu]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, risk, neg)
            step += 1
            nv = neg.item()
            if nv < -BETA:
                backoff += 1
            neg_min = min(neg_min, nv)
            risks.append(risk.item())
        err, f1 = evaluate(model, xt, yt)
        print("\t".join([str(epoch), str(step), str(backoff),
                         f"{np.mean(risks):.4f}", f"{neg_min:+.4f}",
                         f"{100 * err:.2f}", f"{f1:.3f}",
                         f"{time.time() - t0:.1f}"]))

    print(f"# done: final test error {100 * err:.2f}% "
          f"(prior-only baseline {100 * yt.mean():.1f}%)")


if __name__ == "__main__":
    main()
