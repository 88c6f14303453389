"""Sea-ice concentration retrieval from passive-microwave brightness temperatures.

Compute runs in bfloat16, float32 master weights are kept beside the model and updated
with a hand-written Adam. Before the real run an LR range test (exponential sweep, which
blows up at its end on purpose) picks the learning rate; the real run then starts from
fresh weights. Every report is written as SQL, ready to pipe into sqlite3.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

CHANNELS = ["tb19v", "tb19h", "tb37v", "tb37h", "tb89v", "tb89h", "t2m", "wind"]
TB_ICE = np.array([247.0, 232.0, 243.0, 226.0, 225.0, 212.0])
TB_WATER = np.array([185.0, 117.0, 208.0, 149.0, 246.0, 200.0])


def make_scenes(n, rng):
    c = np.clip(rng.beta(0.6, 0.5, size=n) * 1.15 - 0.05, 0.0, 1.0)
    t2m = rng.normal(-12, 8, size=n)
    wind = rng.gamma(2.0, 3.5, size=n)
    tb = c[:, None] * TB_ICE + (1 - c[:, None]) * TB_WATER
    tb[:, 4:] += 0.9 * (t2m[:, None] + 12)  # 89 GHz sees the atmosphere
    tb[:, [1, 3, 5]] += (1 - c[:, None]) * 1.6 * wind[:, None]  # wind roughening of open water
    melt = (t2m > -2) & (rng.random(n) < 0.7)
    tb[melt] -= np.array([6, 14, 8, 16, 10, 18]) * c[melt, None]  # melt ponds look like water
    tb += rng.normal(0, 1.5, size=tb.shape)
    x = np.concatenate([tb, t2m[:, None], wind[:, None]], axis=1).astype(np.float32)
    return x, c.astype(np.float32)


class Retrieval(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.inp = nn.Linear(len(CHANNELS), width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = nn.silu(self.mid(h)) + h
        return mx.sigmoid(self.out(h)).squeeze(-1)


class MixedPrecisionAdam:
    """float32 master copy + Adam moments; the model itself only ever holds bf16."""

    def __init__(self, model, lr, b1=0.9, b2=0.999, eps=1e-8):
        self.model = model
        self.master = tree_map(lambda p: p.astype(mx.float32), model.parameters())
        self.m = tree_map(mx.zeros_like, self.master)
        self.v = tree_map(mx.zeros_like, self.master)
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0
        self.push()

    def push(self):
        self.model.update(tree_map(lambda p: p.astype(mx.bfloat16), self.master))

    def step(self, grads_bf16):
        self.t += 1
        g32 = tree_map(lambda g: g.astype(mx.float32), grads_bf16)
        self.m = tree_map(lambda m, g: self.b1 * m + (1 - self.b1) * g, self.m, g32)
        self.v = tree_map(lambda v, g: self.b2 * v + (1 - self.b2) * g * g, self.v, g32)
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        self.master = tree_map(
            lambda p, m, v: p - self.lr * (m / c1) / (mx.sqrt(v / c2) + self.eps),
            self.master, self.m, self.v)
        self.push()

    def state(self):
        return [self.master, self.m, self.v]


def loss_fn(model, x, y):
    pred = model(x).astype(mx.float32)
    return mx.mean((pred - y) ** 2)


def sql_str(s):
    return "'" + str(s).replace("'", "''") + "'"


def fresh_model(seed):
    mx.random.seed(seed)
    m = Retrieval()
    mx.eval(m.parameters())
    return m


def main():
    t0 = time.time()
    rng = np.random.default_rng(2024)
    x_tr, c_tr = make_scenes(24000, rng)
    x_va, c_va = make_scenes(4000, rng)
    mu, sd = x_tr.mean(0), x_tr.std(0)
    X_tr = mx.array((x_tr - mu) / sd).astype(mx.bfloat16)
    X_va = mx.array((x_va - mu) / sd).astype(mx.bfloat16)
    C_tr, C_va = mx.array(c_tr), mx.array(c_va)
    run_id = "seaice-" + str(int(t0))[-6:]

    print("BEGIN TRANSACTION;")
    print("CREATE TABLE IF NOT EXISTS lr_sweep(run TEXT, step INT, lr REAL, loss REAL, smoothed REAL);")
    print("CREATE TABLE IF NOT EXISTS epochs(run TEXT, epoch INT, lr REAL, train_mse REAL, "
          "val_rmse_pct REAL, val_bias_pct REAL, open_water_false_ice_pct REAL, secs REAL);")
    print("CREATE TABLE IF NOT EXISTS notes(run TEXT, key TEXT, value TEXT);")
    clim_rmse = float(np.sqrt(((c_va - c_tr.mean()) ** 2).mean())) * 100
    print(f"INSERT INTO notes VALUES({sql_str(run_id)}, 'data', "
          f"{sql_str(f'{len(x_tr)} train / {len(x_va)} valid scenes, mean conc {100*c_tr.mean():.1f}%')});")
    print(f"INSERT INTO notes VALUES({sql_str(run_id)}, 'climatology_rmse_pct', '{clim_rmse:.2f}');")

    # ------------------------------------------------ LR range test
    sweep_model = fresh_model(11)
    sweep_opt = MixedPrecisionAdam(sweep_model, lr=1e-5)
    vg = nn.value_and_grad(sweep_model, loss_fn)
    lr_lo, lr_hi, n_sweep = 1e-5, 10.0, 200
    best, avg, hist = float("inf"), 0.0, []
    for i in range(n_sweep):
        lr = lr_lo * (lr_hi / lr_lo) ** (i / (n_sweep - 1))
        sweep_opt.lr = lr
        idx = mx.array(rng.integers(0, len(x_tr), size=128))
        loss, grads = vg(sweep_model, X_tr[idx], C_tr[idx])
        sweep_opt.step(grads)
        mx.eval(loss, *sweep_opt.state())
        avg = 0.9 * avg + 0.1 * loss.item()
        sm = avg / (1 - 0.9 ** (i + 1))
        hist.append((lr, sm))
        if i % 10 == 0 or sm > 4 * best:
            print(f"INSERT INTO lr_sweep VALUES({sql_str(run_id)}, {i}, {lr:.3e}, "
                  f"{loss.item():.5f}, {sm:.5f});")
        best = min(best, sm)
        if sm > 4 * best or not math.isfinite(sm):
            break
    lr_at_min = min(hist, key=lambda t: t[1])[0]
    chosen = min(lr_at_min / 10.0, 1e-2)
    print(f"INSERT INTO notes VALUES({sql_str(run_id)}, 'sweep_stop', "
          f"{sql_str(f'stopped at step {i} lr {lr:.2e}; min smoothed loss at lr {lr_at_min:.2e}; using {chosen:.2e}')});")
    del sweep_model, sweep_opt

    # ------------------------------------------------ real run from fresh weights
    model = fresh_model(12)
    opt = MixedPrecisionAdam(model, lr=chosen)
    vg = nn.value_and_grad(model, loss_fn)

    def report(epoch, train_mse, secs):
        pred = model(X_va).astype(mx.float32)
        err = pred - C_va
        rmse = mx.sqrt(mx.mean(err ** 2)).item() * 100
        bias = mx.mean(err).item() * 100
        ow = C_va < 0.05
        false_ice = (mx.sum((pred > 0.15) & ow) / mx.maximum(mx.sum(ow), 1)).item() * 100
        tm = "NULL" if train_mse is None else f"{train_mse:.6f}"
        print(f"INSERT INTO epochs VALUES({sql_str(run_id)}, {epoch}, {opt.lr:.3e}, {tm}, "
              f"{rmse:.3f}, {bias:+.3f}, {false_ice:.2f}, {secs:.2f});")

    report(0, None, 0.0)
    bs, n = 96, len(x_tr)
    epochs = 12
    for epoch in range(1, epochs + 1):
        te = time.time()
        # cosine decay of the chosen lr over the epochs
        opt.lr = chosen * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / epochs))
        perm = mx.array(rng.permutation(n))
        tot, nb = 0.0, 0
        for b in range(n // bs):
            idx = perm[b * bs:(b + 1) * bs]
            loss, grads = vg(model, X_tr[idx], C_tr[idx])
            if epoch == 1 and b == 0:
                leaves = tree_flatten(grads)
                zero = [k for k, g in leaves if mx.abs(g.astype(mx.float32)).max().item() == 0.0]
                dtypes = sorted({str(g.dtype) for _, g in leaves})
                print(f"INSERT INTO notes VALUES({sql_str(run_id)}, 'grad_check', "
                      f"{sql_str(f'{len(leaves)} leaves, grad dtypes {dtypes}, zero leaves {zero}')});")
            opt.step(grads)
            mx.eval(loss, *opt.state())
            tot += loss.item(); nb += 1
        report(epoch, tot / nb, time.time() - te)

    p_dtypes = sorted({str(p.dtype) for _, p in tree_flatten(model.parameters())})
    m_dtypes = sorted({str(p.dtype) for _, p in tree_flatten(opt.master)})
    print(f"INSERT INTO notes VALUES({sql_str(run_id)}, 'done', "
          f"{sql_str(f'model dtypes {p_dtypes}, master dtypes {m_dtypes}, {time.time()-t0:.1f}s')});")
    print("COMMIT;")


if __name__ == "__main__":
    main()
