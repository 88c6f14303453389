import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(21)
T, C = 20, 4
SPECIES = ["reed_warbler", "sedge_warbler", "reed_bunting", "bearded_tit"]


def make(n):
    y = rng.integers(0, C, size=n)
    t = np.linspace(0, 1, T)
    X = np.zeros((n, T, 2), np.float32)
    for i, c in enumerate(y):
        phase = rng.uniform(0, 2 * np.pi)
        rate = [3.0, 5.0, 3.0, 5.0][c] * rng.uniform(0.85, 1.15)
        sweep = [0.0, 0.0, 1.0, -1.0][c] if c >= 2 else 0.6 * (c == 1) - 0.3
        pitch = np.sin(2 * np.pi * rate * t + phase) + sweep * (t - 0.5) * 2
        amp = np.abs(np.sin(np.pi * t * 2 + phase)) + 0.2
        X[i, :, 0] = pitch + rng.normal(scale=0.9, size=T)
        X[i, :, 1] = amp + rng.normal(scale=0.35, size=T)
    return X, y.astype(np.int32)


Xtr, ytr = make(2000)
Xva, yva = make(600)
Xte, yte = make(1000)


class MeanPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(2, C)
    def __call__(self, x):
        return self.head(x.mean(axis=1))


class Conv(nn.Module):
    def __init__(self, h=16):
        super().__init__()
        self.c1 = nn.Conv1d(2, h, 5, padding=2)
        self.c2 = nn.Conv1d(h, h, 5, padding=2)
        self.head = nn.Linear(h, C)
    def __call__(self, x):
        z = nn.gelu(self.c1(x))
        z = nn.gelu(self.c2(z))
        return self.head(z.max(axis=1))


class Recurrent(nn.Module):
    def __init__(self, h=32):
        super().__init__()
        self.rnn = nn.GRU(2, h)
        self.head = nn.Linear(h, C)
    def __call__(self, x):
        return self.head(self.rnn(x)[:, -1])


# (arm name, family, peak lr); the first arm is the untrained reference and keeps lr 0 throughout
ARMS = [("untrained-conv", Conv, "adam", 0.0), ("meanpool", MeanPool, "adam", 1e-2),
        ("conv", Conv, "adam", 3e-3), ("gru", Recurrent, "adam", 3e-3), ("conv-sgd-hot", Conv, "sgd", 8.0)]


def sx(tag, **kv):
    parts = []
    for k, v in kv.items():
        if isinstance(v, float):
            v = "nan" if math.isnan(v) else f"{v:.4g}"
        elif isinstance(v, str):
            v = f'"{v}"'
        parts.append(f":{k.replace('_', '-')} {v}")
    print(f"({tag} " + " ".join(parts) + ")")


def evaluate(model, X, y):
    logits = model(mx.array(X))
    ce = nn.losses.cross_entropy(logits, mx.array(y), reduction="mean").item()
    acc = (mx.argmax(logits, 1) == mx.array(y)).astype(mx.float32).mean().item()
    return ce, acc


def train(family, kind, lr, X, y, epochs, seed, tag, bs=100, warm_steps=30, log=True):
    mx.random.seed(seed)
    model = family()
    steps = epochs * (len(X) // bs)
    if lr > 0:
        sched = optim.join_schedules([optim.linear_schedule(0.0, lr, warm_steps),
                                      optim.cosine_decay(lr, steps - warm_steps, lr * 0.02)], [warm_steps])
    else:
        sched = 0.0
    opt = optim.Adam(learning_rate=sched) if kind == "adam" else optim.SGD(learning_rate=sched, momentum=0.9)
    step = nn.value_and_grad(model, lambda m, a, b: nn.losses.cross_entropy(m(a), b, reduction="mean"))
    r = np.random.default_rng(seed)
    status = "ok"
    for ep in range(1, epochs + 1):
        perm = r.permutation(len(X))
        tot = 0.0
        for i in range(0, len(X) - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, g = step(model, mx.array(X[idx]), mx.array(y[idx]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        tr = tot / (len(X) // bs)
        if not math.isfinite(tr):
            status = "retired-nonfinite"
            if log:
                sx("epoch", arm=tag, epoch=ep, train_ce=float("nan"), status=status)
            break
        if log:
            vce, vacc = evaluate(model, Xva, yva)
            sx("epoch", arm=tag, epoch=ep, lr=float(opt.learning_rate.item()), train_ce=tr, valid_ce=vce, valid_acc=vacc)
    return model, status


t0 = time.time()
sx("setup", train=len(Xtr), valid=len(Xva), test=len(Xte), steps=T, classes=C, chance_ce=math.log(C))
centroids = np.stack([Xtr[ytr == c].reshape((ytr == c).sum(), -1).mean(0) for c in range(C)])
d = ((Xte.reshape(len(Xte), -1)[:, None, :] - centroids[None]) ** 2).sum(-1)
nc_acc = float((d.argmin(1) == yte).mean())
sx("reference", nearest_centroid_test_acc=nc_acc, chance_acc=1.0 / C)

results = []
for name, fam, kind, lr in ARMS:
    ts = time.time()
    model, status = train(fam, kind, lr, Xtr, ytr, epochs=3, seed=5, tag=name)
    if status == "ok":
        vce, vacc = evaluate(model, Xva, yva)
    else:
        vce, vacc = float("nan"), float("nan")
    results.append((name, fam, kind, lr, status, vce, vacc))
    sx("arm-done", arm=name, peak_lr=lr, status=status, valid_ce=vce, valid_acc=vacc, secs=time.time() - ts)

alive = [r for r in results if r[4] == "ok" and r[3] > 0]
best = max(alive, key=lambda r: r[6])
sx("selected", arm=best[0], valid_acc=best[6])
Xall = np.concatenate([Xtr, Xva])
yall = np.concatenate([ytr, yva])
ts = time.time()
final, status = train(best[1], best[2], best[3], Xall, yall, epochs=5, seed=11, tag=best[0] + "/refit", log=False)
tce, tacc = evaluate(final, Xte, yte)
sx("refit", arm=best[0], epochs=5, rows=len(Xall), status=status, secs=time.time() - ts)
sx("test", arm=best[0], test_ce=tce, test_acc=tacc, nearest_centroid_acc=nc_acc, chance_acc=1.0 / C)
sx("done", secs=time.time() - t0)
