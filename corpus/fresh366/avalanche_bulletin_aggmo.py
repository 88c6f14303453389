"""Avalanche bulletin: danger level 1-5 from ten snowpack / weather readings.
Hand-written AggMo (aggregated momentum, three velocity buffers per parameter).
Stage A trains a 2-way head (considerable-or-worse vs not); stage B swaps in a
fresh 5-way head on the same trunk, drops the old head's AggMo buffers and
re-initialises only the new head's. Prints mean log-likelihood (negative,
rising towards its ceiling) and accuracy beside a prior baseline and the
generator's Bayes ceiling."""

import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

READINGS = ["new_snow_24h", "wind_speed", "wind_loading", "air_temp",
            "temp_trend", "surface_hoar", "weak_layer_depth", "stability_test",
            "slope_aspect_n", "rain_on_snow"]
LEVELS = 5


def generator_logits(x):
    ns, ws, wl, at, tt, sh, wd, st, asp, ros = x.T
    hazard = (0.9 * ns + 0.6 * wl * (ws > 0) + 0.5 * sh - 0.7 * st
              + 0.4 * np.tanh(tt) + 0.6 * ros + 0.3 * asp * wd - 0.2 * at)
    centres = np.array([-2.0, -0.8, 0.2, 1.2, 2.3])
    return -1.6 * (hazard[:, None] - centres[None, :]) ** 2


def make_bulletins(n, rng):
    x = rng.normal(size=(n, len(READINGS))).astype(np.float32)
    lg = generator_logits(x)
    p = np.exp(lg - lg.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(LEVELS, p=row) for row in p], dtype=np.int32)
    return x, y, p


class Trunk(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.a = nn.Linear(d_in, width)
        self.b = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)

    def __call__(self, x):
        h = nn.gelu(self.a(x))
        return self.norm(h + nn.gelu(self.b(h)))


class Forecaster(nn.Module):
    def __init__(self, d_in, n_out):
        super().__init__()
        self.trunk = Trunk(d_in)
        self.head = nn.Linear(64, n_out)

    def __call__(self, x):
        return self.head(self.trunk(x))


class AggMo(optim.Optimizer):
    """Aggregated momentum: K velocity buffers with different betas, the
    update is their average."""

    def __init__(self, learning_rate, betas=(0.0, 0.9, 0.99), weight_decay=0.0):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = list(betas)
        self.weight_decay = weight_decay

    def init_single(self, parameter, state):
        state["vel"] = [mx.zeros_like(parameter) for _ in self.betas]

    def apply_single(self, gradient, parameter, state):
        lr = self.learning_rate.astype(gradient.dtype)
        if self.weight_decay:
            gradient = gradient + self.weight_decay * parameter
        new_vel = [b * v - gradient for b, v in zip(self.betas, state["vel"])]
        state["vel"] = new_vel
        return parameter + lr * sum(new_vel) / len(new_vel)


def coarse(y):
    return (y >= 2).astype(np.int32)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    ll = -nn.losses.cross_entropy(logits, y, reduction="mean").item()
    acc = mx.mean(mx.argmax(logits, axis=1) == y).item()
    return ll, acc


def train_stage(model, opt, xt, yt, xv, yv, rng, epochs, lr_fn, tag, every):
    grad_fn = nn.value_and_grad(model, loss_fn)
    n = xt.shape[0]
    step = 0
    for ep in range(epochs):
        order = rng.permutation(n)
        for i in range(0, n - 63, 64):
            idx = mx.array(order[i:i + 64])
            opt.learning_rate = lr_fn(step)
            loss, grads = grad_fn(model, xt[idx], yt[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            step += 1
        if (ep + 1) % every == 0 or ep == 0:
            tll, tacc = evaluate(model, xt, yt)
            vll, vacc = evaluate(model, xv, yv)
            print(f"{tag} ep {ep + 1:02d} step {step:5d} lr {lr_fn(step - 1):.4f} "
                  f"train_loglik {tll:+.4f} val_loglik {vll:+.4f} "
                  f"val_acc {100 * vacc:5.1f}%")


def main():
    t0 = time.time()
    rng = np.random.default_rng(5)
    xtr, ytr, _ = make_bulletins(9000, rng)
    xva, yva, pva = make_bulletins(2000, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    xt = mx.array((xtr - mu) / sd)
    xv = mx.array((xva - mu) / sd)

    counts = np.bincount(ytr, minlength=LEVELS) / len(ytr)
    prior_ll5 = float(np.mean(np.log(counts[yva])))
    bayes_ll5 = float(np.mean(np.log(pva[np.arange(len(yva)), yva])))
    bayes_acc5 = float(np.mean(pva.argmax(1) == yva))
    c_tr, c_va = coarse(ytr), coarse(yva)
    cp = np.bincount(c_tr, minlength=2) / len(c_tr)
    prior_ll2 = float(np.mean(np.log(cp[c_va])))
    print("danger-level shares (train):",
          " ".join(f"L{k + 1}={100 * c:.1f}%" for k, c in enumerate(counts)))

    mx.random.seed(1)
    model = Forecaster(len(READINGS), 2)
    mx.eval(model.parameters())
    opt = AggMo(learning_rate=0.0, weight_decay=1e-4)

    def lr_a(s):
        return min(0.05, 0.05 * s / 100.0)

    print(f"== stage A: 2-way head | prior val_loglik {prior_ll2:+.4f}, "
          f"majority acc {100 * max(cp):.1f}%")
    train_stage(model, opt, xt, mx.array(c_tr), xv, mx.array(c_va), rng,
                epochs=8, lr_fn=lr_a, tag="A", every=2)

    model.head = nn.Linear(64, LEVELS)
    mx.eval(model.head.parameters())
    del opt.state["head"]
    opt.init(model.trainable_parameters())
    n_state = len(tree_flatten(opt.state))
    print(f"== stage B: fresh 5-way head, optimizer state leaves {n_state} | "
          f"prior val_loglik {prior_ll5:+.4f}, majority acc {100 * max(counts):.1f}%, "
          f"Bayes val_loglik {bayes_ll5:+.4f}, Bayes acc {100 * bayes_acc5:.1f}%")

    def lr_b(s):
        return 0.03 if s < 900 else (0.01 if s < 1600 else 0.003)

    train_stage(model, opt, xt, mx.array(ytr), xv, mx.array(yva), rng,
                epochs=16, lr_fn=lr_b, tag="B", every=3)

    vll, vacc = evaluate(model, xv, mx.array(yva))
    print(f"final: val_loglik {vll:+.4f} (prior {prior_ll5:+.4f}, Bayes {bayes_ll5:+.4f}) "
          f"val_acc {100 * vacc:.1f}% (majority {100 * max(counts):.1f}%, "
          f"Bayes {100 * bayes_acc5:.1f}%)")
    print(f"elapsed {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
