"""Cooperage warehouse: yearly evaporation loss (% of fill, the "angel's share")
of a cask regressed from 8 synthetic readings. Hidden width is chosen with the
one-standard-error rule over repeated early-stopped runs, then the chosen width
is refit on train+valid for the median best epoch count and scored on test."""
import statistics
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

NOISE_SD = 0.35


def make_casks(n, key):
    kx, ke = mx.random.split(key)
    x = mx.random.normal((n, 8), key=kx)
    stave_mm, toast, char, floor_lvl, humid, swing, oak_flag, _spare = [x[:, i] for i in range(8)]
    loss = (
        2.4
        + 0.55 * floor_lvl
        - 0.45 * humid
        + 0.30 * swing * (1.0 + 0.3 * floor_lvl)
        - 0.25 * stave_mm
        + 0.15 * mx.tanh(2.0 * char)
        + 0.10 * toast * oak_flag
    )
    y = loss + NOISE_SD * mx.random.normal((n,), key=ke)
    return x, y


class CaskNet(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.a = nn.Linear(8, width)
        self.b = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.a(x))
        h = nn.silu(self.b(h))
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def rmse(model, x, y):
    return mx.sqrt(mse(model, x, y)).item()


def run_epochs(model, opt, x, y, epochs, batch, val=None, patience=None, min_delta=0.0):
    grad_fn = nn.value_and_grad(model, mse)
    n = x.shape[0]
    best = (float("inf"), 0, None)
    bad = 0
    trace = []
    for ep in range(1, epochs + 1):
        perm = mx.random.permutation(n)
        for s in range(0, n - batch + 1, batch):
            idx = perm[s:s + batch]
            _, g = grad_fn(model, x[idx], y[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
        if val is None:
            continue
        v = rmse(model, *val)
        trace.append(v)
        if v < best[0] - min_delta:
            best = (v, ep, tree_map(lambda a: mx.array(a), model.parameters()))
            bad = 0
        else:
            bad += 1
            if bad >= patience:
                break
    return best, trace


def main():
    t0 = time.time()
    mx.random.seed(3)
    k = mx.random.key(3)
    ktr, kva, kte = mx.random.split(k, 3)
    xtr, ytr = make_casks(1200, ktr)
    xva, yva = make_casks(400, kva)
    xte, yte = make_casks(2000, kte)
    mu, sd = mx.mean(xtr, axis=0), mx.std(xtr, axis=0)
    xtr, xva, xte = (xtr - mu) / sd, (xva - mu) / sd, (xte - mu) / sd
    base = mx.sqrt(mx.mean((yte - mx.mean(ytr)) ** 2)).item()
    print(f"casks train {xtr.shape[0]} valid {xva.shape[0]} test {xte.shape[0]}")
    print(f"predict-the-mean test RMSE {base:.3f} %   noise floor {NOISE_SD:.3f} %")

    widths = [4, 8, 16, 48]
    seeds = [0, 1, 2]
    results = {}
    print()
    print("candidate runs (early stopping on valid RMSE, patience 6, min_delta 0.002, max 60 epochs)")
    for w in widths:
        results[w] = []
        for s in seeds:
            mx.random.seed(100 * w + s)
            model = CaskNet(w)
            mx.eval(model.parameters())
            opt = optim.Adam(learning_rate=4e-3)
            (bv, be, _), trace = run_epochs(
                model, opt, xtr, ytr, 60, 32, val=(xva, yva), patience=6, min_delta=0.002
            )
            results[w].append((bv, be))
            shown = " ".join(f"{t:.3f}" for t in trace[:3])
            print(
                f"  width {w:>2} seed {s}: epochs run {len(trace):>2}, best epoch {be:>2}, "
                f"valid RMSE {bv:.3f} %  (first evals {shown})"
            )

    print()
    print("width | mean valid RMSE | std err | median best epoch")
    summary = {}
    for w in widths:
        vals = [r[0] for r in results[w]]
        m = statistics.mean(vals)
        se = statistics.stdev(vals) / len(vals) ** 0.5
        med_ep = int(statistics.median([r[1] for r in results[w]]))
        summary[w] = (m, se, med_ep)
        print(f"{w:>5} | {m:15.4f} | {se:7.4f} | {med_ep:>4}")
    w_best = min(widths, key=lambda w: summary[w][0])
    limit = summary[w_best][0] + summary[w_best][1]
    chosen = min(w for w in widths if summary[w][0] <= limit)
    print(f"lowest mean at width {w_best}; one-SE limit {limit:.4f}; chosen width {chosen}")

    refit_epochs = summary[chosen][2]
    print()
    print(f"refit width {chosen} on train+valid for {refit_epochs} epochs (no held-out monitoring)")
    xall = mx.concatenate([xtr, xva])
    yall = mx.concatenate([ytr, yva])
    mx.random.seed(7)
    final = CaskNet(chosen)
    mx.eval(final.parameters())
    opt = optim.Adam(learning_rate=4e-3)
    before = rmse(final, xte, yte)
    run_epochs(final, opt, xall, yall, refit_epochs, 32)
    after = rmse(final, xte, yte)
    print(f"test RMSE untrained {before:.3f} %  ->  refit {after:.3f} %  (mean baseline {base:.3f}, floor {NOISE_SD:.3f})")
    print(f"total {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
