"""Volcano observatory: two forecasts from one network.

From 8 daily monitoring readings (tremor RMS, LP-event count, VT-event count,
tilt rate, CO2/SO2 ratio, H2S, ground temperature, rainfall) predict
  * log SO2 flux tomorrow (regression), and
  * whether an explosive event is reported within 7 days (binary).
The two losses are combined with learned homoscedastic-uncertainty weights
(Kendall et al. 2018):  L = sum_i exp(-s_i) * L_i + s_i,  so the combined
objective goes negative once the task noises are learned.

The run is silent while it trains; the per-epoch log is kept in memory and
printed as semicolon-separated rows at the end.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FEATURES = ["tremor", "lp_count", "vt_count", "tilt", "co2_so2", "h2s", "ground_t", "rain"]


def simulate(n, rng):
    x = rng.normal(size=(n, len(FEATURES))).astype(np.float32)
    unrest = 0.9 * x[:, 0] + 0.6 * x[:, 1] + 0.4 * np.tanh(2 * x[:, 3]) - 0.5 * x[:, 4]
    log_so2 = 6.0 + 0.8 * unrest + 0.3 * x[:, 5] * x[:, 6] - 0.2 * x[:, 7] + rng.normal(0, 0.35, n)
    p = 1.0 / (1.0 + np.exp(-(1.6 * unrest + 0.8 * x[:, 2] - 2.2)))
    erupt = (rng.random(n) < p).astype(np.float32)
    return x, log_so2.astype(np.float32), erupt


class Forecaster(nn.Module):
    def __init__(self, d_in, hidden=64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(),
                                   nn.Linear(hidden, hidden), nn.SiLU())
        self.so2 = nn.Linear(hidden, 1)
        self.erupt = nn.Linear(hidden, 1)
        # log task variances, learned with the weights (raw array attribute)
        self.log_var = mx.zeros((2,))

    def __call__(self, x):
        h = self.trunk(x)
        return self.so2(h).squeeze(-1), self.erupt(h).squeeze(-1)


def task_losses(model, x, y_so2, y_er):
    pred_so2, logit_er = model(x)
    l_reg = 0.5 * mx.mean((pred_so2 - y_so2) ** 2)
    l_cls = mx.mean(nn.losses.binary_cross_entropy(logit_er, y_er, with_logits=True, reduction="none"))
    return l_reg, l_cls


def combined(model, x, y_so2, y_er):
    l_reg, l_cls = task_losses(model, x, y_so2, y_er)
    s = model.log_var
    total = mx.exp(-s[0]) * l_reg + s[0] + mx.exp(-s[1]) * l_cls + s[1]
    return total, (l_reg, l_cls)


def metrics(model, x, y_so2, y_er, so2_sd):
    pred_so2, logit_er = model(x)
    rmse = mx.sqrt(mx.mean((pred_so2 - y_so2) ** 2)) * so2_sd
    p = mx.sigmoid(logit_er)
    brier = mx.mean((p - y_er) ** 2)
    acc = mx.mean((p > 0.5) == (y_er > 0.5))
    total, _ = combined(model, x, y_so2, y_er)
    mx.eval(rmse, brier, acc, total)
    return total.item(), rmse.item(), brier.item(), acc.item()


def main():
    rng = np.random.default_rng(2024)
    mx.random.seed(2024)
    x, so2, er = simulate(14000, rng)
    xtr, xva = x[:12000], x[12000:]
    m_so2, s_so2 = so2[:12000].mean(), so2[:12000].std()
    ztr, zva = (so2[:12000] - m_so2) / s_so2, (so2[12000:] - m_so2) / s_so2
    etr, eva = er[:12000], er[12000:]
    Xva, Zva, Eva = mx.array(xva), mx.array(zva), mx.array(eva)

    model = Forecaster(len(FEATURES))
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    step_fn = nn.value_and_grad(model, combined)

    # first-step gradient audit (kept for the final report)
    (_, _), g = step_fn(model, mx.array(xtr[:128]), mx.array(ztr[:128]), mx.array(etr[:128]))
    leaves = tree_flatten(g)
    zero_leaves = [k for k, v in leaves if float(mx.abs(v).sum()) == 0.0]

    base_brier = float(np.mean((etr.mean() - eva) ** 2))
    untrained = metrics(model, Xva, Zva, Eva, s_so2)
    rows = []
    batch, epochs = 128, 14
    n = xtr.shape[0]
    t0 = time.time()
    for epoch in range(1, epochs + 1):
        perm = rng.permutation(n)
        tot = reg = cls = 0.0
        nb = 0
        for i in range(0, n - batch + 1, batch):
            idx = mx.array(perm[i:i + batch])
            (loss, (l_reg, l_cls)), grads = step_fn(model, mx.array(xtr)[idx], mx.array(ztr)[idx],
                                                    mx.array(etr)[idx])
            grads = optim.clip_grad_norm(grads, 5.0)[0]
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss, l_reg, l_cls)
            tot += loss.item()
            reg += l_reg.item()
            cls += l_cls.item()
            nb += 1
        v_tot, v_rmse, v_brier, v_acc = metrics(model, Xva, Zva, Eva, s_so2)
        s = np.array(model.log_var)
        rows.append(dict(epoch=epoch, train_obj=tot / nb, train_half_mse=reg / nb, train_bce=cls / nb,
                         val_obj=v_tot, so2_rmse_log=v_rmse, brier=v_brier, acc_pct=100 * v_acc,
                         sigma_so2=math.exp(0.5 * s[0]), sigma_er=math.exp(0.5 * s[1]),
                         secs=time.time() - t0))

    print("volcano multitask forecaster | train 12000 days | val 2000 days | eruption rate {:.1f}%".format(
        100 * etr.mean()))
    print("first-step gradient leaves: {} ({} all-zero{})".format(
        len(leaves), len(zero_leaves), ": " + ", ".join(zero_leaves) if zero_leaves else ""))
    print("untrained val: objective {:.3f}; so2 rmse {:.3f} (log units); brier {:.3f} (climatology {:.3f})".format(
        untrained[0], untrained[1], untrained[2], base_brier))
    cols = list(rows[0].keys())
    print(";".join(cols))
    for r in rows:
        print(";".join(str(r[c]) if c == "epoch" else "{:.4f}".format(r[c]) for c in cols))
    print("finished in {:.1f}s".format(time.time() - t0))


if __name__ == "__main__":
    main()
