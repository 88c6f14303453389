import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N_TR, N_TE, D = 3000, 800, 6
FEATS = ["yarn_tex", "twist_tpm", "strands", "tar_pct", "age_months", "humidity"]

def make(n):
    X = rng.normal(size=(n, D)).astype(np.float32)
    tex, twist, strands, tar, age, hum = X.T
    load = (14.0 + 4.0 * tex + 1.5 * strands - 2.0 * (twist - 0.3) ** 2
            + 1.2 * np.tanh(2 * tar) - 1.8 * np.log1p(np.exp(age)) + 0.9 * tex * strands
            - 0.6 * hum * (age > 0))
    y = load + rng.normal(scale=0.8, size=n)
    return X, y.astype(np.float32)

Xtr, ytr = make(N_TR)
Xte, yte = make(N_TE)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
ym, ys = ytr.mean(), ytr.std()


class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(D, 1)
    def __call__(self, x):
        return self.lin(x).squeeze(-1)


class Additive(nn.Module):
    def __init__(self, h=16):
        super().__init__()
        self.parts = [nn.Sequential(nn.Linear(1, h), nn.SiLU(), nn.Linear(h, 1)) for _ in range(D)]
    def __call__(self, x):
        return sum(p(x[:, i:i + 1]) for i, p in enumerate(self.parts)).squeeze(-1)


class Mlp(nn.Module):
    def __init__(self, h=48):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(D, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, 1))
    def __call__(self, x):
        return self.net(x).squeeze(-1)


ARCHS = {"linear": Linear, "additive": Additive, "mlp": Mlp}


def fit(kind, X, y, seed, epochs=12, bs=100):
    mx.random.seed(seed)
    model = ARCHS[kind]()
    opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, epochs * (len(X) // bs), 1e-4))
    yz = (y - ym) / ys
    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)
    step = nn.value_and_grad(model, loss_fn)
    first = last = None
    r = np.random.default_rng(seed)
    for ep in range(epochs):
        perm = r.permutation(len(X))
        tot = 0.0
        for i in range(0, len(X) - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, g = step(model, mx.array(X[idx]), mx.array(yz[idx]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        ep_loss = tot / (len(X) // bs)
        first = ep_loss if first is None else first
        last = ep_loss
    return model, first, last


def predict(model, X):
    return np.array(model(mx.array(X))) * ys + ym


def rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


def grid(headers, rows):
    w = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    sep = "+" + "+".join("-" * (x + 2) for x in w) + "+"
    hsep = sep.replace("-", "=")
    out = [sep, "| " + " | ".join(str(h).ljust(x) for h, x in zip(headers, w)) + " |", hsep]
    for r in rows:
        out.append("| " + " | ".join(str(c).ljust(x) for c, x in zip(r, w)) + " |")
        out.append(sep)
    return "\n".join(out)


t0 = time.time()
print("Rope test bench: stacked blend of three model families")
print("=" * 54)
print()
print(f".. rows train={N_TR} test={N_TE} features={','.join(FEATS)}")
print(f".. mean-load guess RMSE on test: {rmse(np.full_like(yte, ym), yte):.3f} kN ; bench noise sd 0.800 kN")

K = 4
folds = np.array_split(np.random.default_rng(0).permutation(N_TR), K)
oof = {k: np.zeros(N_TR, np.float32) for k in ARCHS}
fit_rows = []
for kind in ARCHS:
    for f in range(K):
        va = folds[f]
        tr = np.concatenate([folds[j] for j in range(K) if j != f])
        m, first, last = fit(kind, Xtr[tr], ytr[tr], seed=100 * f + len(kind))
        oof[kind][va] = predict(m, Xtr[va])
        fit_rows.append((kind, f, f"{first:.4f}", f"{last:.4f}", f"{rmse(oof[kind][va], ytr[va]):.3f}"))
print(f".. out-of-fold fitting done in {time.time() - t0:.1f}s ({len(fit_rows)} fits)")
print()
print("Fold fits (loss in standardised units)")
print("-" * 38)
print(grid(["family", "fold", "epoch1 mse", "last epoch mse", "fold RMSE kN"], fit_rows))

# level-1 learner: convex weights over the families plus an offset, trained on OOF predictions
P = np.stack([(oof[k] - ym) / ys for k in ARCHS], 1).astype(np.float32)
T = ((ytr - ym) / ys).astype(np.float32)


class Blend(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.logits = mx.zeros((n,))
        self.offset = mx.zeros((1,))
    def weights(self):
        return mx.softmax(self.logits)
    def __call__(self, p):
        return p @ self.weights() + self.offset


blend = Blend(len(ARCHS))
warm = 60
sched = optim.join_schedules([optim.linear_schedule(0.0, 0.2, warm), optim.linear_schedule(0.2, 0.2, 1)], [warm])
bopt = optim.SGD(learning_rate=sched, momentum=0.9)
bstep = nn.value_and_grad(blend, lambda m, p, t: nn.losses.mse_loss(m(p), t))
Pm, Tm = mx.array(P), mx.array(T)
print()
print("Level-1 blend (full batch, SGD momentum, warm-up from 0)")
print("-" * 56)
brows = []
for it in range(400):
    lr_now = float(sched(it))
    loss, g = bstep(blend, Pm, Tm)
    bopt.update(blend, g)
    mx.eval(blend.parameters(), bopt.state, loss)
    if it in (0, 1, 30, 60, 100, 200, 399):
        wts = np.array(blend.weights())
        brows.append((it, f"{lr_now:.3f}", f"{loss.item():.5f}", " ".join(f"{v:.2f}" for v in wts)))
print(grid(["iter", "lr", "oof mse", "weights lin/add/mlp"], brows))

cv_rows = []
for k in ARCHS:
    cv_rows.append((k, f"{rmse(oof[k], ytr):.3f}"))
stack_oof = np.array(blend(Pm)) * ys + ym
cv_rows.append(("stacked blend", f"{rmse(stack_oof, ytr):.3f}"))
best_single = min(ARCHS, key=lambda k: rmse(oof[k], ytr))

print()
print("Refit of every family on all training rows")
print("-" * 43)
test_pred = {}
for kind in ARCHS:
    m, _, last = fit(kind, Xtr, ytr, seed=999 + len(kind))
    test_pred[kind] = predict(m, Xte)
Pt = mx.array(np.stack([(test_pred[k] - ym) / ys for k in ARCHS], 1).astype(np.float32))
stack_te = np.array(blend(Pt)) * ys + ym
rows = []
for k in ARCHS:
    tag = "selected single" if k == best_single else ""
    rows.append((k, dict(cv_rows)[k], f"{rmse(test_pred[k], yte):.3f}", tag))
rows.append(("stacked blend", dict(cv_rows)["stacked blend"], f"{rmse(stack_te, yte):.3f}", "level-1"))
rows.append(("mean guess", "-", f"{rmse(np.full_like(yte, ym), yte):.3f}", "reference"))
print(grid(["model", "CV RMSE kN", "test RMSE kN", "note"], rows))
print()
print(f".. blend weights: " + ", ".join(f"{k}={v:.3f}" for k, v in zip(ARCHS, np.array(blend.weights()))))
print(f".. finished in {time.time() - t0:.1f}s")
