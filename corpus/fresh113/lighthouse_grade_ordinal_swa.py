"""Lighthouse lamp visibility grade (0 = lamp lost ... 4 = full range) from
keeper's weather readings.  Cumulative-logit ordinal model with learned,
ordered cut-points, plus stochastic weight averaging (SWA) over the last
epochs.  Runs quietly and prints a grid table at the end."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

K = 5  # grades


def make_readings(n, rng):
    fog = rng.gamma(1.5, 1.0, n)              # fog index
    rain = rng.exponential(2.0, n)            # mm/h
    spray = rng.uniform(0, 1, n)              # salt spray on the lantern glass
    hours_clean = rng.uniform(0, 72, n)       # hours since glass was cleaned
    wind = rng.normal(12, 5, n).clip(0)       # knots
    dusk = rng.integers(0, 2, n)              # twilight flag
    latent = (3.2 - 0.9 * fog - 0.15 * rain - 1.1 * spray * hours_clean / 72
              - 0.03 * np.maximum(wind - 15, 0) + 0.4 * dusk
              + rng.logistic(0, 0.45, n))
    grade = np.digitize(latent, [-0.5, 0.5, 1.5, 2.4])
    X = np.stack([fog, np.log1p(rain), spray, hours_clean, wind, dusk], 1)
    return X.astype(np.float32), grade.astype(np.int32)


class OrdinalNet(nn.Module):
    def __init__(self, d_in, hidden=48):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(),
                                  nn.Linear(hidden, hidden), nn.GELU(),
                                  nn.Linear(hidden, 1))
        # first cut-point free, the gaps go through softplus so cuts stay ordered
        self.cut0 = mx.array([-1.5])
        self.gaps = mx.zeros((K - 2,))

    def cuts(self):
        return mx.concatenate([self.cut0, self.cut0 + mx.cumsum(nn.softplus(self.gaps) + 1e-3)])

    def __call__(self, x):
        s = self.body(x)                       # (B, 1) score
        cdf = mx.sigmoid(self.cuts()[None, :] - s)   # P(y <= k), k = 0..K-2
        ones = mx.ones((x.shape[0], 1))
        zeros = mx.zeros((x.shape[0], 1))
        upper = mx.concatenate([cdf, ones], 1)
        lower = mx.concatenate([zeros, cdf], 1)
        return upper - lower                   # (B, K) class probabilities


def nll(model, x, y):
    p = model(x)
    py = mx.take_along_axis(p, y[:, None], axis=1).squeeze(1)
    return -mx.log(py + 1e-7).mean()


def evaluate(model, X, y):
    p = np.array(model(X))
    pred = p.argmax(1)
    yn = np.array(y)
    py = p[np.arange(len(yn)), yn]
    return (float(-np.log(py + 1e-7).mean()), float(np.abs(pred - yn).mean()),
            float((pred == yn).mean() * 100))


def main():
    t0 = time.time()
    rng = np.random.default_rng(113)
    Xtr, ytr = make_readings(9000, rng)
    Xva, yva = make_readings(2000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
    Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))

    mx.random.seed(5)
    model = OrdinalNet(Xtr.shape[1])
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    loss_and_grad = nn.value_and_grad(model, nll)

    # every trainable leaf must see a gradient on the first batch
    _, g0 = loss_and_grad(model, Xtr[:128], ytr[:128])
    dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    assert not dead, f"zero-gradient leaves: {dead}"

    epochs, bs, swa_start = 16, 96, 9
    swa, n_avg = None, 0
    rows = []
    n = Xtr.shape[0]
    for ep in range(1, epochs + 1):
        if ep == swa_start:
            opt.learning_rate = 1e-3       # constant SWA learning rate
        perm = mx.array(np.random.default_rng(ep).permutation(n))
        tot, cnt = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, g = loss_and_grad(model, Xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); cnt += 1
        if ep >= swa_start:
            cur = model.trainable_parameters()
            if swa is None:
                swa = tree_map(lambda a: mx.array(a), cur)
            else:
                swa = tree_map(lambda a, w: a + (w - a) / (n_avg + 1), swa, cur)
            mx.eval(swa)
            n_avg += 1
        vnll, vmae, vacc = evaluate(model, Xva, yva)
        rows.append((str(ep), tot / cnt, vnll, vmae, vacc, "yes" if ep >= swa_start else ""))

    # swap the averaged weights in for the final evaluation
    model.update(swa)
    snll, smae, sacc = evaluate(model, Xva, yva)
    rows.append(("SWA", float("nan"), snll, smae, sacc, f"{n_avg} snapshots"))

    prior = np.bincount(np.array(ytr), minlength=K) / n
    base_nll = float(-np.log(prior[np.array(yva)]).mean())
    head = ("epoch", "train NLL", "valid NLL", "valid grade MAE", "exact %", "in SWA")
    w = (7, 11, 11, 17, 9, 14)
    line = "+" + "+".join("-" * x for x in w) + "+"
    print(line)
    print("|" + "|".join(h.center(x) for h, x in zip(head, w)) + "|")
    print(line.replace("-", "="))
    for r in rows:
        cells = [r[0], "" if r[1] != r[1] else f"{r[1]:.4f}", f"{r[2]:.4f}", f"{r[3]:.4f}",
                 f"{r[4]:.2f}", r[5]]
        print("|" + "|".join(c.rjust(x - 1) + " " for c, x in zip(cells, w)) + "|")
        print(line)
    print(f"class-prior NLL {base_nll:.4f}; grade MAE counts grades off (lower is better)")
    print("learned cut-points:", " ".join(f"{c:.3f}" for c in np.array(model.cuts())))
    print(f"wall {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
