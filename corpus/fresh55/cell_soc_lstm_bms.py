"""Battery management: estimate a Li-ion cell's state of charge from the last
24 seconds of terminal voltage, current and temperature.

Data: a first-order Thevenin equivalent circuit (OCV(SoC) curve, R0(T), one RC
pair) driven by random pulse/drive-cycle currents.  Model: nn.LSTM over the
window -> Linear -> sigmoid.  RMSprop with an exponential-decay schedule.
One tqdm-like bar line per epoch, then a trace of a held-out discharge.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)
CAP_AS = 2.5 * 3600.0       # 2.5 Ah cell
WIN = 24


def ocv(soc):
    return 3.0 + 1.15 * soc - 0.35 * soc ** 2 - 0.22 * np.exp(-18.0 * soc) + 0.08 * np.tanh(8 * (soc - 0.9))


def drive_profile(n, rng):
    cur = np.zeros(n)
    i = 0
    while i < n:
        seg = rng.integers(5, 40)
        kind = rng.random()
        if kind < 0.55:
            level = rng.uniform(0.3, 6.0)          # discharge (A)
        elif kind < 0.8:
            level = -rng.uniform(0.2, 3.0)         # regen / charge
        else:
            level = 0.0                            # rest
        cur[i:i + seg] = level + rng.normal(0, 0.08, min(seg, n - i))
        i += seg
    return cur


def simulate_cell(n, rng):
    soc = rng.uniform(0.35, 1.0)
    temp = rng.uniform(5.0, 40.0)
    r0 = 0.018 * np.exp(0.025 * (25.0 - temp))
    r1, c1 = 0.012, 2200.0
    v_rc = 0.0
    cur = drive_profile(n, rng)
    vs, socs, temps = [], [], []
    for k in range(n):
        soc = np.clip(soc - cur[k] / CAP_AS * 6.0, 0.02, 1.0)   # 6x time compression
        v_rc = v_rc + (cur[k] / c1 - v_rc / (r1 * c1))
        v = ocv(soc) - cur[k] * r0 - v_rc + rng.normal(0, 0.004)
        temp_k = temp + 0.02 * abs(cur[k]) + rng.normal(0, 0.2)
        vs.append(v); socs.append(soc); temps.append(temp_k)
    return np.array(vs), cur, np.array(temps), np.array(socs)


def windows(n_cells, length, rng):
    xs, ys = [], []
    for _ in range(n_cells):
        v, i, t, s = simulate_cell(length, rng)
        feats = np.stack([(v - 3.6) / 0.4, i / 3.0, (t - 22.0) / 12.0], axis=1)
        for end in range(WIN, length, 6):
            xs.append(feats[end - WIN:end]); ys.append(s[end - 1])
    return np.array(xs, dtype=np.float32), np.array(ys, dtype=np.float32)


class SocNet(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.rnn = nn.LSTM(3, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h, _ = self.rnn(x)
        return mx.sigmoid(self.head(h[:, -1, :])).squeeze(-1)


def bar(frac, width=24):
    done = int(round(frac * width))
    return "#" * done + "." * (width - done)


def main():
    mx.random.seed(3)
    xtr, ytr = windows(60, 420, rng)
    xva, yva = windows(12, 420, rng)
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))
    model = SocNet()
    mx.eval(model.parameters())

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    vg = nn.value_and_grad(model, loss_fn)
    epochs, bs = 8, 64
    steps_per_epoch = xtr.shape[0] // bs
    sched = optim.exponential_decay(3e-3, 0.9995)
    opt = optim.RMSprop(learning_rate=sched, alpha=0.9)

    _, g0 = vg(model, xtr[:bs], ytr[:bs])
    flat = tree_flatten(g0)
    dead = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
    print(f"[bms] {xtr.shape[0]} train windows, {xva.shape[0]} val windows, "
          f"{len(flat)} grad leaves, dead leaves: {dead or 'none'}")
    print(f"[bms] constant-guess val MAE: {100 * float(mx.abs(yva - ytr.mean()).mean()):.2f} %SoC")
    t0 = time.time()
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(xtr.shape[0]))
        run = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * bs:(s + 1) * bs]
            loss, grads = vg(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        val_mae = 100 * float(mx.abs(model(xva) - yva).mean())
        lr = opt.learning_rate.item()
        print(f"epoch {ep}/{epochs} [{bar(ep / epochs)}] train_rmse={100 * (run / steps_per_epoch) ** 0.5:5.2f}%"
              f"  val_mae={val_mae:5.2f}%  lr={lr:.2e}  {time.time() - t0:5.1f}s")

    v, i, t, s = simulate_cell(420, np.random.default_rng(99))
    feats = np.stack([(v - 3.6) / 0.4, i / 3.0, (t - 22.0) / 12.0], axis=1).astype(np.float32)
    print("\n  t(s)   V      I(A)   true SoC  est SoC")
    for end in range(60, 420, 60):
        est = float(model(mx.array(feats[None, end - WIN:end]))[0])
        print(f"  {end:4d}  {v[end - 1]:.3f}  {i[end - 1]:5.2f}   {100 * s[end - 1]:6.1f}%  {100 * est:6.1f}%")


if __name__ == "__main__":
    main()
