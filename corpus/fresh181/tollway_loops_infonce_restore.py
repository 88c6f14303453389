"""Self-supervised embeddings of tollway loop-detector day profiles.

Each sample: 48 half-hour vehicle counts from one detector on one day.
Road types (commuter / leisure / freight / tourist) are never shown to the
encoder; they are only used by a ridge-regression probe on frozen embeddings.
InfoNCE (SimCLR style) with two augmented views; compiled train step;
early stopping on probe accuracy with restore of the best weights.
"""
import json
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(format="%(asctime)s %(levelname)s tollway: %(message)s",
                    level=logging.INFO, datefmt="%H:%M:%S")
log = logging.getLogger("tollway")

BINS = 48
t = np.arange(BINS) / 2.0  # hour of day


def bump(mu, sig):
    return np.exp(-0.5 * ((t - mu) / sig) ** 2)


SHAPES = {
    "commuter": 0.30 + bump(8.0, 1.2) + 0.9 * bump(17.5, 1.4),
    "school_run": 0.30 + bump(8.5, 1.2) + 0.9 * bump(15.5, 1.4),
    "freight": 0.55 + 0.45 * bump(12.0, 5.0) + 0.25 * bump(5.0, 1.5),
    "tourist": 0.30 + 0.9 * bump(10.5, 1.6) + 0.8 * bump(19.0, 1.8),
}


def make_days(n, rng):
    kinds = rng.integers(0, 4, n)
    shapes = np.stack(list(SHAPES.values()))
    volume = np.exp(rng.normal(np.log(12.0), 0.7, n))[:, None]
    shift = rng.integers(-4, 5, n)
    base = np.stack([np.roll(shapes[k], s) for k, s in zip(kinds, shift)])
    counts = rng.poisson(base * volume)
    return counts.astype(np.float32), kinds


def to_feat(c):
    x = np.log1p(c)
    return (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-3)


def augment(c, rng):
    c = c * np.exp(rng.normal(0, 0.4, (len(c), 1)))            # volume change
    c = np.stack([np.roll(r, s) for r, s in zip(c, rng.integers(-3, 4, len(c)))])
    c = rng.poisson(np.maximum(c, 0)).astype(np.float32)        # resample counts
    mask = rng.random(c.shape) < 0.08                           # detector dropouts
    c = np.where(mask, 0.0, c)
    return to_feat(c).astype(np.float32)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(BINS, 128), nn.ReLU(),
                                  nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 32))
        self.proj = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 16))

    def embed(self, x):
        return self.body(x)

    def __call__(self, x):
        z = self.proj(self.body(x))
        return z / mx.linalg.norm(z, axis=1, keepdims=True)


def info_nce(model, a, b, tau=0.2):
    za, zb = model(a), model(b)
    z = mx.concatenate([za, zb], 0)
    n = za.shape[0]
    sim = (z @ z.T) / tau
    sim = sim - 1e9 * mx.eye(2 * n)
    target = mx.concatenate([mx.arange(n, 2 * n), mx.arange(0, n)])
    return nn.losses.cross_entropy(sim, target, reduction="mean")


def probe_acc(model, Xtr, ytr, Xte, yte, lam=1.0):
    H = np.array(model.embed(mx.array(Xtr)))
    Ht = np.array(model.embed(mx.array(Xte)))
    H1 = np.hstack([H, np.ones((len(H), 1))])
    Ht1 = np.hstack([Ht, np.ones((len(Ht), 1))])
    Y = np.eye(4)[ytr]
    W = np.linalg.solve(H1.T @ H1 + lam * np.eye(H1.shape[1]), H1.T @ Y)
    return 100.0 * float(np.mean((Ht1 @ W).argmax(1) == yte))


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    C, kinds = make_days(7000, rng)
    Ctr, Cpr, Cte = C[:5000], C[5000:6000], C[6000:]
    Xpr, ypr = to_feat(Cpr[:120]), kinds[5000:5120]
    Xte, yte = to_feat(Cte), kinds[6000:]

    model = Encoder()
    mx.eval(model.parameters())
    rand_probe = probe_acc(model, Xpr, ypr, Xte, yte)
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    state = [model.state, opt.state]
    loss_and_grad = nn.value_and_grad(model, info_nce)

    @partial_compile(state)
    def step(a, b):
        loss, grads = loss_and_grad(model, a, b)
        opt.update(model, grads)
        return loss

    batch = 128
    chance = float(np.log(2 * batch - 1))
    log.info("days: ssl %d, probe-fit %d, probe-test %d; chance nce %.3f; random-encoder probe %.1f%%",
             len(Ctr), len(Xpr), len(Xte), chance, rand_probe)
    best_acc, best_params, best_step, bad = -1.0, None, 0, 0
    patience, max_steps = 5, 3000
    t0 = time.time()
    window = []
    for it in range(1, max_steps + 1):
        idx = rng.choice(len(Ctr), batch, replace=False)
        a, b = augment(Ctr[idx], rng), augment(Ctr[idx], rng)
        loss = step(mx.array(a), mx.array(b))
        mx.eval(state, loss)
        window.append(loss.item())
        if it % 50 == 0:
            log.info("step %4d  nce %.3f (last-50 mean %.3f, chance %.3f)",
                     it, window[-1], float(np.mean(window[-50:])), chance)
        if it % 100 == 0:
            acc = probe_acc(model, Xpr, ypr, Xte, yte)
            pnorm = float(sum(mx.sum(v * v).item() for _, v in tree_flatten(model.parameters())) ** 0.5)
            improved = acc > best_acc + 0.2
            if improved:
                best_acc, best_step, bad = acc, it, 0
                best_params = tree_map(lambda v: mx.array(v), model.parameters())
                mx.eval(best_params)
            else:
                bad += 1
            log.info("probe @%d: acc %.1f%% (random encoder %.1f%%, kept best %.1f%% @%d) |theta| %.3f",
                     it, acc, rand_probe, best_acc, best_step, pnorm)
            if bad >= patience:
                log.info("early stop at step %d: no probe gain for %d checks", it, patience)
                break
    model.update(best_params)
    mx.eval(model.parameters())
    final = probe_acc(model, Xpr, ypr, Xte, yte)
    print(json.dumps({"event": "done", "restored_step": best_step, "probe_acc_pct": round(final, 2),
                      "random_encoder_pct": round(rand_probe, 2), "last_nce": round(window[-1], 4),
                      "first_nce": round(window[0], 4), "steps": it, "secs": round(time.time() - t0, 1)}))


def partial_compile(state):
    from functools import partial
    return partial(mx.compile, inputs=state, outputs=state)


if __name__ == "__main__":
    main()
