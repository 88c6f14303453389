"""River-network recovery: which gauging station drains into which.

Each synthetic basin has 8 gauging stations. Every station drains either into
another (lower) station or straight into the sea, so the drainage map is a
directed spanning tree rooted at the sea. We score every possible arc with a
small MLP and train with the exact tree likelihood: log Z over all spanning
arborescences is computed with the Matrix-Tree theorem (log-determinant of the
arc Laplacian), with a hand-written VJP for the log-determinant.
"""
import itertools
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_ST = 8          # stations per basin
DAYS = 30
N_FEAT = 6


def make_basin(rng, n=N_ST):
    pos = rng.uniform(0, 1, size=(n, 2))
    elev = np.sort(rng.uniform(0.05, 1.0, size=n))[::-1].copy()  # high -> low
    parent = np.zeros(n, dtype=np.int64)  # 0 = sea, k = station k-1
    for m in range(n):
        cands = [0] + [h + 1 for h in range(m + 1, n)]  # lower stations only
        d = [elev[m] * 0.9] + [np.linalg.norm(pos[m] - pos[h - 1]) for h in cands[1:]]
        w = np.exp(-np.array(d) / 0.18)
        parent[m] = rng.choice(cands, p=w / w.sum())
    rain = rng.gamma(1.5, 1.0, size=(n, DAYS))
    flow = rain.copy()
    for m in range(n):  # high to low: children are already complete
        for c in range(n):
            if parent[c] == m + 1:
                flow[m, 1:] += 0.8 * flow[c, :-1]
    flow_obs = flow * rng.lognormal(0, 0.25, size=flow.shape)
    return pos, elev, flow_obs, parent


def arc_features(pos, elev, flow):
    n = len(elev)
    f = np.zeros((n + 1, n, N_FEAT), dtype=np.float32)
    lf = np.log(flow.mean(1))
    for m in range(n):
        f[0, m] = [elev[m], elev[m] * 0.9, 0.0, 0.0, 1.0, 0.0]
        for h in range(n):
            if h == m:
                continue
            a = flow[m, :-1] - flow[m, :-1].mean()
            b = flow[h, 1:] - flow[h, 1:].mean()
            corr = (a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-9)
            f[h + 1, m] = [elev[m] - elev[h], np.linalg.norm(pos[m] - pos[h]),
                           corr, lf[h] - lf[m], 0.0, float(elev[h] < elev[m])]
    return f


def make_set(rng, count):
    X, Y, H = [], [], []
    for _ in range(count):
        pos, elev, flow, parent = make_basin(rng)
        X.append(arc_features(pos, elev, flow))
        Y.append(parent)
        # hand rule: nearest lower station, else the sea
        guess = np.zeros(N_ST, dtype=np.int64)
        for m in range(N_ST):
            lower = [h for h in range(N_ST) if elev[h] < elev[m]]
            if lower:
                dist = [np.linalg.norm(pos[m] - pos[h]) for h in lower]
                if min(dist) < elev[m] * 0.9:
                    guess[m] = lower[int(np.argmin(dist))] + 1
        H.append(guess)
    return np.stack(X), np.stack(Y), np.stack(H)


@mx.custom_function
def logdet(L):
    return mx.linalg.slogdet(L, stream=mx.cpu)[1]


@logdet.vjp
def _logdet_vjp(L, cot, out):
    return cot[..., None, None] * mx.linalg.inv(L, stream=mx.cpu).swapaxes(-1, -2)


class ArcScorer(nn.Module):
    def __init__(self, d_in=N_FEAT, hidden=48):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, 1))

    def __call__(self, feats):
        s = self.net(feats)[..., 0]                       # (B, n+1, n)
        n = s.shape[-1]
        self_arc = mx.concatenate([mx.zeros((1, n), dtype=mx.bool_),
                                   mx.eye(n, dtype=mx.bool_)], axis=0)
        return mx.where(self_arc, -1e9, s)


def log_partition(scores):
    """log sum over spanning arborescences rooted at the sea (row 0)."""
    shift = mx.stop_gradient(scores.max(axis=1, keepdims=True))   # per child
    A = mx.exp(scores - shift)                                      # (B, n+1, n)
    n = A.shape[-1]
    lap = mx.eye(n) * A.sum(axis=1)[:, None, :] - A[:, 1:, :]
    return logdet(lap) + shift[:, 0, :].sum(axis=-1)


def gold_score(scores, parent):
    return mx.take_along_axis(scores, parent[:, None, :], axis=1)[:, 0, :].sum(-1)


def loss_fn(model, feats, parent):
    s = model(feats)
    return (log_partition(s) - gold_score(s, parent)).mean()


def marginals(model, feats):
    s = model(feats)
    return mx.grad(lambda t: log_partition(t).sum())(s)


def brute_force_check(model, feats):
    s = np.array(model(feats)[0])
    n = s.shape[1]
    terms = []
    for heads in itertools.product(range(n + 1), repeat=n):
        ok = True
        for m in range(n):
            seen, k = set(), m
            while heads[k] != 0:
                if k in seen or heads[k] - 1 == k:
                    ok = False
                    break
                seen.add(k)
                k = heads[k] - 1
            if not ok:
                break
        if ok:
            terms.append(sum(s[heads[m], m] for m in range(n)))
    terms = np.array(terms)
    mx_ = terms.max()
    brute = mx_ + np.log(np.exp(terms - mx_).sum())
    return len(terms), brute, log_partition(model(feats)).item()


def evaluate(model, X, Y):
    mu = np.array(marginals(model, X))
    pred = mu.argmax(axis=1)
    right = pred == Y
    nll = loss_fn(model, X, mx.array(Y)).item()
    return nll, 100 * right.mean(), 100 * right.all(axis=1).mean()


def main():
    rng = np.random.default_rng(312)
    mx.random.seed(312)
    t0 = time.time()
    Xtr, Ytr, _ = make_set(rng, 2000)
    Xva, Yva, Hva = make_set(rng, 400)
    mu_f = Xtr.reshape(-1, N_FEAT).mean(0)
    sd_f = Xtr.reshape(-1, N_FEAT).std(0) + 1e-6
    Xtr = (Xtr - mu_f) / sd_f
    Xva = (Xva - mu_f) / sd_f
    print(f"basins: {len(Ytr)} train / {len(Yva)} valid, {N_ST} stations each, "
          f"{100 * (Ytr == 0).mean():.1f}% of stations drain to the sea "
          f"({time.time() - t0:.1f}s)")
    print(f"hand rule (nearest lower station) on valid: attach "
          f"{100 * (Hva == Yva).mean():.1f}%  whole basin {100 * (Hva == Yva).all(1).mean():.1f}%")
    print(f"always-sea on valid: attach {100 * (Yva == 0).mean():.1f}%")

    model = ArcScorer()
    mx.eval(model.parameters())

    small = mx.array(Xva[:1, :5, :4])
    cnt, brute, mt = brute_force_check(model, small)
    print(f"log Z check on a 4-station sub-basin: {cnt} trees enumerated, "
          f"brute {brute:.5f} vs matrix-tree {mt:.5f}")

    steps, warm, batch = 600, 60, 32
    lr = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm),
                               optim.cosine_decay(3e-3, steps - warm, 1e-4)], [warm])
    opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)
    vg = nn.value_and_grad(model, loss_fn)

    Xva_m, Ytr_m = mx.array(Xva), mx.array(Ytr)
    Xtr_m = mx.array(Xtr)
    nll0, att0, ex0 = evaluate(model, Xva_m, Yva)
    print(f"untrained: valid nll {nll0:.3f} nats/basin  attach {att0:.1f}%  whole {ex0:.1f}%")

    print(f"{'step':>5} {'lr':>9} {'train nll':>10} {'valid nll':>10} "
          f"{'attach%':>8} {'whole%':>7} {'secs':>6}")
    run, cnt_run = 0.0, 0
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, len(Ytr), size=batch))
        lr_now = opt.learning_rate.item()
        loss, grads = vg(model, Xtr_m[idx], Ytr_m[idx])
        if step == 1:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if mx.abs(g).max().item() == 0]
            print(f"first batch: {len(leaves)} gradient leaves, all-zero: {zero or 'none'}, "
                  f"lr used {lr_now:.1e}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        cnt_run += 1
        if step in (1, 30) or step % 100 == 0:
            nll, att, ex = evaluate(model, Xva_m, Yva)
            print(f"{step:>5} {lr_now:>9.2e} {run / cnt_run:>10.3f} {nll:>10.3f} "
                  f"{att:>8.1f} {ex:>7.1f} {time.time() - t0:>6.1f}")
            run, cnt_run = 0.0, 0

    nll, att, ex = evaluate(model, Xva_m, Yva)
    print(f"done: valid nll {nll:.3f} nats/basin ({nll / N_ST:.3f} per station), "
          f"attach {att:.1f}% vs hand rule {100 * (Hva == Yva).mean():.1f}%")


if __name__ == "__main__":
    main()
