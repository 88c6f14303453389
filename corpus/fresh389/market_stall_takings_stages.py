"""Saturday street market: predict each stall's takings (EUR) from last week's
takings, stall type, pitch position, forecast rain and temperature.  Stage A
trains on ordinary Saturdays only; stage B adds the festival Saturdays, whose
takings are larger and far noisier."""
import sys
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2389)
N_TYPES = 6


def saturdays(n, festival_share):
    stype = rng.integers(0, N_TYPES, n)
    corner = rng.uniform(0, 1, n)
    rain = rng.gamma(1.2, 2.0, n)
    temp = rng.normal(14, 6, n)
    fest = (rng.uniform(size=n) < festival_share).astype(np.float32)
    type_level = np.array([420, 610, 300, 880, 510, 260])[stype]
    warm = np.where(np.isin(stype, [1, 3]), 1.0, -0.4)
    mean = type_level * (1 + 0.35 * corner) * np.exp(-0.06 * rain) * (1 + 0.012 * warm * (temp - 14))
    mean = mean * (1 + 0.9 * fest)
    last = mean / (1 + 0.9 * fest) * rng.lognormal(0, 0.25, n)
    y = mean * rng.lognormal(0, 0.12 + 0.18 * fest, n)
    feats = np.stack([last / 500, corner, rain / 5, (temp - 14) / 6, fest], 1).astype(np.float32)
    return stype, feats, y.astype(np.float32) / 500, last.astype(np.float32) / 500


st_o, X_o, y_o, l_o = saturdays(6000, 0.0)
st_f, X_f, y_f, l_f = saturdays(1500, 1.0)
st_v, X_v, y_v, l_v = saturdays(2000, 0.2)

# references on the test Saturdays (EUR)
EUR = 500.0
def rmse(p, y):
    return float(np.sqrt(np.mean((p - y) ** 2))) * EUR

D_all = np.concatenate([X_o, X_f]); y_all = np.concatenate([y_o, y_f])
onehot = lambda s: np.eye(N_TYPES, dtype=np.float32)[s]
A = np.concatenate([D_all, onehot(np.concatenate([st_o, st_f])), np.ones((len(D_all), 1), np.float32)], 1)
coef, *_ = np.linalg.lstsq(A, y_all, rcond=None)
Av = np.concatenate([X_v, onehot(st_v), np.ones((len(X_v), 1), np.float32)], 1)
refs = [("mean takings", rmse(np.full_like(y_v, y_all.mean()), y_v)),
        ("same as last week", rmse(l_v, y_v)),
        ("least-squares fit", rmse(Av @ coef, y_v))]
print("market ledger: 6000 ordinary + 1500 festival stall-days for training, 2000 test stall-days")
for name, v in refs:
    print(f"  reference  {name:<18} RMSE EUR {v:7.1f}")


class Takings(nn.Module):
    def __init__(self):
        super().__init__()
        self.kind = nn.Embedding(N_TYPES, 4)
        self.body = nn.Sequential(nn.Linear(9, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU(), nn.Linear(48, 1))

    def __call__(self, s, x):
        return self.body(mx.concatenate([self.kind(s), x], axis=1))[:, 0]


def loss_fn(m, s, x, y):
    return nn.losses.huber_loss(m(s, x), y, delta=1.0, reduction="mean")


mx.random.seed(11)
model = Takings()
opt = optim.Adagrad(learning_rate=0.05)
step = nn.value_and_grad(model, loss_fn)
sv, xv = mx.array(st_v), mx.array(X_v)

def stage(name, S, X, Y, epochs, bs=64):
    S, X, Y = mx.array(S), mx.array(X), mx.array(Y)
    n = X.shape[0] // bs
    print(f"stage {name}: {X.shape[0]} stall-days, {epochs} epochs of {n} steps", flush=True)
    for ep in range(1, epochs + 1):
        t0 = time.time()
        perm = mx.array(rng.permutation(X.shape[0])[: n * bs].reshape(n, bs))
        tot = 0.0
        for i in range(n):
            idx = perm[i]
            loss, g = step(model, S[idx], X[idx], Y[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += float(loss)
            if i % 25 == 24:
                sys.stdout.write("."); sys.stdout.flush()
        r = rmse(np.array(model(sv, xv)), y_v)
        sys.stdout.write(f"\n  {name}{ep:02d}  train huber {tot / n:.5f}  test RMSE EUR {r:7.1f}"
                         f"  (lsq {refs[2][1]:.1f}, last-week {refs[1][1]:.1f})  {time.time() - t0:.1f}s\n")
    return r

stage("A", st_o, X_o, y_o, 5)
final = stage("B", np.concatenate([st_o, st_f]), np.concatenate([X_o, X_f]), np.concatenate([y_o, y_f]), 5)
fest_mask = X_v[:, 4] > 0.5
pv = np.array(model(sv, xv))
print(f"test RMSE EUR: model {final:.1f} | ordinary Saturdays {rmse(pv[~fest_mask], y_v[~fest_mask]):.1f}"
      f" | festival Saturdays {rmse(pv[fest_mask], y_v[fest_mask]):.1f}")
print(f"least-squares fit on the same split: ordinary {rmse((Av @ coef)[~fest_mask], y_v[~fest_mask]):.1f}"
      f" | festival {rmse((Av @ coef)[fest_mask], y_v[fest_mask]):.1f}")
