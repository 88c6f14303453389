"""Greenhouse misting line: is any of the 12 nozzles on a line clogged?

Multiple-instance learning.  Each line (bag) has 12 nozzle readings; the line
alarm is on if at least one nozzle is clogged (hidden rule).  Instances are
pooled with SPARSEMAX attention, written as an mx.custom_function with its own
VJP.  After a burn-in, a stochastic weight average (SWA) of the parameters is
kept; both the last and the averaged weights are scored at the end.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

N_NOZ = 12


@mx.custom_function
def sparsemax(z):
    zs = mx.sort(z, axis=-1)[..., ::-1]
    k = mx.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    cums = mx.cumsum(zs, axis=-1)
    in_support = (1 + k * zs) > cums
    k_z = mx.sum(in_support, axis=-1, keepdims=True)
    tau = (mx.take_along_axis(cums, k_z.astype(mx.int32) - 1, axis=-1) - 1) / k_z
    return mx.maximum(z - tau, 0.0)


@sparsemax.vjp
def sparsemax_vjp(primals, cotangent, output):
    support = (output > 0).astype(cotangent.dtype)
    g_mean = mx.sum(cotangent * support, axis=-1, keepdims=True) / mx.sum(
        support, axis=-1, keepdims=True)
    return support * (cotangent - g_mean)


def make_lines(n, rng):
    # per nozzle: pressure (bar), flow (l/h), pump distance (m), water temp, tds
    dist = np.sort(rng.uniform(0, 30, (n, N_NOZ)), axis=1)
    base_p = 4.0 - 0.03 * dist + rng.normal(0, 0.12, (n, N_NOZ))
    flow = 6.0 * np.sqrt(np.clip(base_p, 0.5, None) / 4) + rng.normal(0, 0.35, (n, N_NOZ))
    temp = np.repeat(rng.normal(18, 4, (n, 1)), N_NOZ, 1) + rng.normal(0, 0.3, (n, N_NOZ))
    tds = np.repeat(rng.gamma(4, 60, (n, 1)), N_NOZ, 1)
    clogged = np.zeros((n, N_NOZ), bool)
    bad_line = rng.uniform(size=n) < 0.4
    which = rng.integers(0, N_NOZ, n)
    clogged[np.arange(n)[bad_line], which[bad_line]] = True
    # clogged nozzle: flow drops, local pressure creeps up
    flow = np.where(clogged, flow * rng.uniform(0.72, 0.95, (n, N_NOZ)), flow)
    base_p = np.where(clogged, base_p + rng.uniform(0.0, 0.2, (n, N_NOZ)), base_p)
    X = np.stack([base_p, flow, dist, temp, tds], -1).astype(np.float32)
    alarm = bad_line ^ (rng.uniform(size=n) < 0.04)        # 4% mis-logged alarms
    return X, alarm.astype(np.float32), np.where(bad_line, which, -1)


class LineAlarm(nn.Module):
    def __init__(self, d_in=5, d=32):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d_in, d), nn.SiLU(), nn.Linear(d, d), nn.SiLU())
        self.score = nn.Linear(d, 1)
        self.out = nn.Linear(d, 1)

    def __call__(self, x):
        h = self.enc(x)                                   # (B, N, d)
        att = sparsemax(self.score(h).squeeze(-1))        # (B, N), rows sum to 1
        pooled = mx.sum(att[..., None] * h, axis=1)
        return self.out(pooled).squeeze(-1), att


def loss_fn(model, x, y):
    logits, _ = model(x)
    return nn.losses.binary_cross_entropy(logits, y, with_logits=True)


def score(model, X, y, which):
    logits, att = model(X)
    loss = float(nn.losses.binary_cross_entropy(logits, y, with_logits=True))
    pred = np.array(logits) > 0
    yn = np.array(y) > 0.5
    missed = 100.0 * (~pred & yn).sum() / yn.sum()
    false_alarm = 100.0 * (pred & ~yn).sum() / (~yn).sum()
    att = np.array(att)
    real = which >= 0
    locate = 100.0 * (att[real].argmax(1) == which[real]).mean()
    support = (att > 0).sum(1).mean()
    return loss, missed, false_alarm, locate, support


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    t0 = time.perf_counter()
    Xtr, ytr, _ = make_lines(6000, rng)
    Xte, yte, wte = make_lines(2000, rng)
    flat = Xtr.reshape(-1, Xtr.shape[-1])
    mu, sd = flat.mean(0), flat.std(0) + 1e-6
    Xtr = mx.array((Xtr - mu) / sd)
    Xte = mx.array((Xte - mu) / sd)
    ytr, yte = mx.array(ytr), mx.array(yte)

    # the hand-written VJP against finite differences on a random row
    z0 = mx.random.normal((1, N_NOZ))
    w = mx.random.normal((1, N_NOZ))
    g = mx.grad(lambda z: mx.sum(w * sparsemax(z)))(z0)
    eps, fd = 1e-3, []
    for j in range(N_NOZ):
        e = mx.zeros((1, N_NOZ)).at[0, j].add(eps)
        fd.append((mx.sum(w * sparsemax(z0 + e)) - mx.sum(w * sparsemax(z0 - e))).item() / (2 * eps))
    print(f"sparsemax vjp check: max |analytic - numeric| = {np.abs(np.array(g)[0] - np.array(fd)).max():.2e}")

    model = LineAlarm()
    mx.eval(model.parameters())
    epochs, batch = 16, 64
    steps_per_epoch = Xtr.shape[0] // batch
    opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, epochs * steps_per_epoch, 3e-4))
    step = nn.value_and_grad(model, loss_fn)
    swa_start, swa, n_avg = 9, None, 0

    print(f"lines: {Xtr.shape[0]} train / {Xte.shape[0]} test, {N_NOZ} nozzles each, "
          f"{100 * float(ytr.mean()):.1f}% alarmed")
    l, m, fa, loc, sup = score(model, Xte, yte, wte)
    print(f"ep  0  train  --     test {l:.3f}  missed {m:5.1f}%  false-alarm {fa:5.1f}%  "
          f"locate {loc:5.1f}%  support {sup:4.1f}")
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        run = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * batch:(i + 1) * batch]
            loss, grads = step(model, Xtr[idx], ytr[idx])
            if ep == 1 and i == 0:
                leaves = tree_flatten(grads)
                zero = [k for k, v in leaves if not bool(mx.any(v != 0))]
                print(f"grad check: {len(leaves)} leaves, zero: {zero if zero else 'none'}")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        if ep >= swa_start:
            params = model.trainable_parameters()
            if swa is None:
                swa = tree_map(lambda p: mx.array(p), params)
            else:
                swa = tree_map(lambda a, p: a + (p - a) / (n_avg + 1), swa, params)
            mx.eval(swa)
            n_avg += 1
        l, m, fa, loc, sup = score(model, Xte, yte, wte)
        tag = f"  swa n={n_avg}" if n_avg else ""
        print(f"ep {ep:2d}  train {run / steps_per_epoch:.3f}  test {l:.3f}  missed {m:5.1f}%  "
              f"false-alarm {fa:5.1f}%  locate {loc:5.1f}%  support {sup:4.1f}{tag}")

    last = score(model, Xte, yte, wte)
    model.update(swa)
    avg = score(model, Xte, yte, wte)
    print(f"last weights: test bce {last[0]:.3f}, missed {last[1]:.1f}%, false alarm {last[2]:.1f}%")
    print(f"swa  weights: test bce {avg[0]:.3f}, missed {avg[1]:.1f}%, false alarm {avg[2]:.1f}% "
          f"(average of {n_avg} epochs)")
    print(f"finished in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
