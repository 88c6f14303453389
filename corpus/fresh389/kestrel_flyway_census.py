"""Raptor census: species from radar/telemetry flight features at a migration watch site."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SPECIES = ["kestrel", "buzzard", "harrier", "sparrowhawk"]
SITES = ["ridge", "coast", "valley"]
rng = np.random.default_rng(7)
mx.random.seed(7)

# per-species means of 9 features: wingbeat Hz, glide ratio, airspeed, climb, turn rate,
# hover share, altitude, wing-load proxy, flock size
MEANS = np.array([
    [5.0, 0.35, 9.0, 0.2, 0.8, 0.40, 60, 0.9, 1.0],
    [2.4, 0.70, 11.0, 1.4, 0.5, 0.05, 220, 1.4, 2.5],
    [3.2, 0.60, 10.0, 0.3, 0.6, 0.12, 35, 1.0, 1.2],
    [6.2, 0.30, 12.5, 0.1, 1.3, 0.02, 90, 0.8, 1.0],
])
SCALE = np.array([0.9, 0.12, 1.8, 0.6, 0.3, 0.10, 55, 0.25, 0.9])
PRIOR = np.array([0.40, 0.30, 0.18, 0.12])


def sample(n, site_p, altitude_shift=0.0, gain=1.0):
    y = rng.choice(4, size=n, p=PRIOR)
    site = rng.choice(3, size=n, p=site_p)
    x = MEANS[y] + SCALE * rng.standard_normal((n, 9))
    x[:, 6] += 25.0 * site + altitude_shift       # valley birds fly higher above the radar
    x[:, 2] *= gain                               # airspeed calibration of the radar
    return x.astype(np.float32), y.astype(np.int32), site


x_tr, y_tr, s_tr = sample(9000, [0.5, 0.3, 0.2])
x_te, y_te, s_te = sample(3000, [0.5, 0.3, 0.2])
x_sh, y_sh, s_sh = sample(3000, [0.2, 0.3, 0.5], altitude_shift=40.0, gain=1.12)
mu, sd = x_tr.mean(0), x_tr.std(0)
norm = lambda a: mx.array((a - mu) / sd)
Xtr, Ytr = norm(x_tr), mx.array(y_tr)


class Census(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(9, 96)
        self.blocks = [nn.Linear(96, 96) for _ in range(2)]
        self.norms = [nn.LayerNorm(96) for _ in range(2)]
        self.head = nn.Linear(96, 4)

    def __call__(self, x):
        h = nn.gelu(self.stem(x))
        for lin, ln in zip(self.blocks, self.norms):
            h = h + nn.gelu(lin(ln(h)))
        return self.head(h)


model = Census()
mx.eval(model.parameters())
steps_per_epoch = len(y_tr) // 150
epochs = 14
total = steps_per_epoch * epochs
warm = steps_per_epoch  # one epoch of warm-up from exactly zero
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 5e-5)], [warm])
opt = optim.Adafactor(learning_rate=sched, relative_step=False, scale_parameter=False)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)


def predict(a):
    return np.array(mx.argmax(model(norm(a)), axis=1))


t0 = time.time()
print(f"flyway census: {len(y_tr)} train tracks, {len(y_te)} same-season test, {len(y_sh)} autumn-shift test")
print(f"class shares (train): " + ", ".join(f"{n} {p:.1%}" for n, p in zip(SPECIES, np.bincount(y_tr) / len(y_tr))))
print(f"majority-class accuracy: {np.mean(y_te == 0):.1%}")
for epoch in range(1, epochs + 1):
    perm = mx.array(rng.permutation(len(y_tr)).astype(np.int32))
    run = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * 150:(i + 1) * 150]
        lr_used = opt.learning_rate.item()
        loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        if epoch == 1 and i == 0:
            print(f"first step: lr used {lr_used:.1e}, loss {loss.item():.4f} (ln 4 = {np.log(4):.4f})")
    if epoch in (1, 2, 4, 7, 10, 14):
        acc = np.mean(predict(x_te) == y_te)
        print(f"epoch {epoch:2d}  lr {opt.learning_rate.item():.2e}  train xent {run / steps_per_epoch:.4f}  "
              f"test acc {acc:.1%}  {time.time() - t0:5.1f}s")


def per_class(yt, yp):
    rows = []
    for c, name in enumerate(SPECIES):
        tp = np.sum((yp == c) & (yt == c))
        prec = tp / max(np.sum(yp == c), 1)
        rec = tp / max(np.sum(yt == c), 1)
        f1 = 2 * prec * rec / max(prec + rec, 1e-9)
        rows.append((name, np.sum(yt == c), prec, rec, f1))
    return rows


p_te, p_sh = predict(x_te), predict(x_sh)
print()
print("| species     | n (same) | prec | recall | F1   | n (shift) | prec | recall | F1   |")
print("|-------------|---------:|-----:|-------:|-----:|----------:|-----:|-------:|-----:|")
for a, b in zip(per_class(y_te, p_te), per_class(y_sh, p_sh)):
    print(f"| {a[0]:<11} | {a[1]:8d} | {a[2]:.2f} | {a[3]:6.2f} | {a[4]:.2f} | {b[1]:9d} | {b[2]:.2f} | {b[3]:6.2f} | {b[4]:.2f} |")
print()
print("| site   | same-season acc | autumn-shift acc | majority acc (shift) |")
print("|--------|----------------:|-----------------:|---------------------:|")
for s, name in enumerate(SITES):
    m1, m2 = s_te == s, s_sh == s
    print(f"| {name:<6} | {np.mean(p_te[m1] == y_te[m1]):15.1%} | {np.mean(p_sh[m2] == y_sh[m2]):16.1%} | "
          f"{np.mean(y_sh[m2] == 0):20.1%} |")
macro = lambda r: np.mean([x[4] for x in r])
print(f"\noverall: same-season acc {np.mean(p_te == y_te):.1%} (macro-F1 {macro(per_class(y_te, p_te)):.3f}), "
      f"autumn-shift acc {np.mean(p_sh == y_sh):.1%} (macro-F1 {macro(per_class(y_sh, p_sh)):.3f}), "
      f"{time.time() - t0:.1f}s")
