# Stay-cable tension from ambient-vibration frequencies (cable-stayed bridge
# inspection). Target: log tension; features: log f1..f4, log length, log mass
# per metre, bending-stiffness index. Reference: the taut-string formula
# T = 4 m L^2 f1^2, which ignores bending stiffness.
# Muon on the weight matrices, AdamW on biases; compiled step; three seeds,
# each with early stopping that restores its best weights.
import logging
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s | %(message)s")
log = logging.getLogger("staycable")

data_rng = np.random.default_rng(2024)


def simulate(n):
    L = data_rng.uniform(80, 250, n)
    m = data_rng.uniform(40, 120, n)
    T = data_rng.uniform(2000, 8000, n) * 1e3  # N
    xi = data_rng.uniform(0.0, 0.04, n)        # bending-stiffness index
    base = np.sqrt(T / m) / (2 * L)
    freqs = []
    for k in range(1, 5):
        fk = k * base * np.sqrt(1 + xi * k**2 * (1 + 40 * xi))
        freqs.append(fk * (1 + data_rng.normal(0, 0.004, n)))
    F = np.stack(freqs, 1)
    X = np.concatenate([np.log(F), np.log(L)[:, None], np.log(m)[:, None], xi[:, None] * 25], 1)
    ref = np.log(4 * m * L**2 * F[:, 0] ** 2)
    return X.astype(np.float32), np.log(T).astype(np.float32), ref.astype(np.float32)


Xtr, ytr, _ = simulate(8000)
Xva, yva, rva = simulate(1500)
mu_x, sd_x = Xtr.mean(0), Xtr.std(0)
mu_y, sd_y = ytr.mean(), ytr.std()
Xtr_n = mx.array((Xtr - mu_x) / sd_x)
Xva_n = mx.array((Xva - mu_x) / sd_x)
ytr_n = mx.array((ytr - mu_y) / sd_y)
yva_log = mx.array(yva)
rva_log = mx.array(rva)


def report(pred_log):
    rel = mx.abs(mx.exp(pred_log - yva_log) - 1.0)
    return float(mx.mean(rel)) * 100, float(mx.mean(rel < 0.02)) * 100


ref_mape, ref_within = report(rva_log)
log.info("taut-string reference: MAPE %.2f %%  within-2%% %.1f %%", ref_mape, ref_within)


class TensionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


summary = []
for seed in (11, 12, 13):
    mx.random.seed(seed)
    order_rng = np.random.default_rng(seed)
    model = TensionNet()
    mx.eval(model.parameters())
    opt = optim.MultiOptimizer(
        [optim.Muon(learning_rate=optim.cosine_decay(0.01, 60 * 63, 2e-4), momentum=0.95),
         optim.AdamW(learning_rate=optim.cosine_decay(1e-3, 60 * 63, 2e-5), weight_decay=0.0)],
        [lambda path, w: w.ndim == 2],
    )
    opt.init(model.trainable_parameters())

    _, g = nn.value_and_grad(model, mse)(model, Xtr_n[:256], ytr_n[:256])
    zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
    log.info("seed %d audit: %d grad tensors, zero-grad tensors: %s", seed, len(tree_flatten(g)), zero or "none")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, mse)(model, x, y)
        opt.update(model, grads)
        return loss

    best, best_ep, best_params, bad = float("inf"), -1, None, 0
    for epoch in range(1, 61):
        perm = order_rng.permutation(Xtr_n.shape[0])
        tot = 0.0
        nb = 0
        for i in range(0, len(perm), 128):
            idx = mx.array(perm[i:i + 128])
            loss = step(Xtr_n[idx], ytr_n[idx])
            mx.eval(state, loss)
            tot += float(loss)
            nb += 1
        pred = model(Xva_n) * float(sd_y) + float(mu_y)
        vloss = float(mx.mean((pred - yva_log) ** 2)) * 1e4
        mape, within = report(pred)
        if epoch % 5 == 0 or epoch == 1:
            log.info("seed %d ep %02d train %.5f val %.3f (x1e-4) MAPE %.2f %% within-2%% %.1f %% [ref %.2f / %.1f]",
                     seed, epoch, tot / nb, vloss, mape, within, ref_mape, ref_within)
        if vloss < best - 1e-3:
            best, best_ep, bad = vloss, epoch, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            bad += 1
            if bad >= 10:
                log.info("seed %d stop at ep %d, restoring ep %d (val %.3f)", seed, epoch, best_ep, best)
                break
    model.update(best_params)
    mx.eval(model.parameters())
    pred = model(Xva_n) * float(sd_y) + float(mu_y)
    mape, within = report(pred)
    summary.append((seed, best_ep, mape, within))

print()
print(f"{'seed':>5} {'best_ep':>8} {'MAPE%':>7} {'within2%':>9} {'ref MAPE%':>10} {'ref within2%':>13}")
for seed, ep, mape, within in summary:
    print(f"{seed:>5} {ep:>8} {mape:>7.2f} {within:>9.1f} {ref_mape:>10.2f} {ref_within:>13.1f}")
