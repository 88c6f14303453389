"""Tapestry conservation studio: 5-way fibre condition of a woven section
(sound / faded / brittle / moth-grazed / water-stained) from 10 synthetic
bench readings.  A wide teacher is fitted first and frozen; a small student
is then trained with decoupled knowledge distillation (target-class and
non-target-class terms, Zhao et al. 2022) whose weight ramps up from 0.
A CE-only student of the same size is trained beside it as a baseline."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

t0 = time.time()
rng = np.random.default_rng(315)
N_TR, N_TE, D, C = 6000, 2000, 10, 5


def make(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    w1 = np.linspace(-1.0, 1.0, D * 16).reshape(D, 16).astype(np.float32)
    h = np.tanh(x @ np.sin(3.0 * w1) + 0.3 * x[:, :1] * x[:, 1:2])
    w2 = np.cos(np.arange(16 * C).reshape(16, C) * 0.7).astype(np.float32)
    score = 10.0 * h @ w2 + rng.gumbel(size=(n, C)).astype(np.float32) * 0.5
    clean = (h @ w2).argmax(axis=1)
    return x, score.argmax(axis=1).astype(np.int32), clean


xtr, ytr, _ = make(N_TR)
xte, yte, cte = make(N_TE)
Xtr, Ytr, Xte, Yte = map(mx.array, (xtr, ytr, xte, yte))
print(f"train {N_TR}  test {N_TE}  class shares "
      + " ".join(f"{s:.2f}" for s in np.bincount(ytr, minlength=C) / N_TR))
print(f"majority-class baseline acc {np.bincount(yte, minlength=C).max() / N_TE:.3f}  "
      f"noise-free-law ceiling acc {(cte == yte).mean():.3f}")


def mlp(sizes):
    layers = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b), nn.GELU()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


def accuracy(model, X, Y):
    return (mx.argmax(model(X), axis=1) == Y).mean().item()


def batches(n, bs, seed):
    perm = np.random.default_rng(seed).permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield mx.array(perm[i:i + bs])


# ---- stage 1: teacher, fitted without per-step logging -------------------
mx.random.seed(1)
teacher = mlp([D, 192, 192, C])
t_opt = optim.Adam(learning_rate=2e-3)


def ce_loss(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


t_step = nn.value_and_grad(teacher, ce_loss)
for ep in range(8):
    for idx in batches(N_TR, 128, 100 + ep):
        loss, g = t_step(teacher, Xtr[idx], Ytr[idx])
        t_opt.update(teacher, g)
        mx.eval(teacher.parameters(), t_opt.state)
teacher.freeze()
teacher.eval()
t_acc = accuracy(teacher, Xte, Yte)
t_snapshot = {k: np.array(v) for k, v in
              __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(teacher.parameters())}
print(f"teacher fitted ({time.time() - t0:.1f}s)  test acc {t_acc:.3f}")
T_logits_tr = mx.stop_gradient(teacher(Xtr))
mx.eval(T_logits_tr)

# ---- stage 2: DKD student vs CE-only student --------------------------------
TEMP, ALPHA, BETA, WARM = 4.0, 1.0, 4.0, 5   # KD weight ramps 0 -> 1 over WARM epochs
EPOCHS = 14


def dkd_terms(s_logits, t_logits, y):
    gt = mx.eye(C)[y]                       # one-hot of the label
    ps = mx.softmax(s_logits / TEMP, axis=1)
    pt = mx.softmax(t_logits / TEMP, axis=1)
    # binary (target vs rest) distributions -> TCKD
    bs_ = mx.stack([(ps * gt).sum(1), (ps * (1 - gt)).sum(1)], axis=1)
    bt_ = mx.stack([(pt * gt).sum(1), (pt * (1 - gt)).sum(1)], axis=1)
    tckd = (bt_ * (mx.log(bt_ + 1e-8) - mx.log(bs_ + 1e-8))).sum(1).mean() * TEMP ** 2
    # distribution over non-target classes only -> NCKD
    ls = nn.log_softmax(s_logits / TEMP - 1000.0 * gt, axis=1)
    lt = nn.log_softmax(t_logits / TEMP - 1000.0 * gt, axis=1)
    nckd = (mx.exp(lt) * (lt - ls)).sum(1).mean() * TEMP ** 2
    return tckd, nckd


def dkd_loss(model, x, y, t_logits, w):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    tckd, nckd = dkd_terms(logits, t_logits, y)
    return ce + w * (ALPHA * tckd + BETA * nckd), (ce, tckd, nckd)


mx.random.seed(7)
student = mlp([D, 16, C])
mx.random.seed(7)
plain = mlp([D, 16, C])
s_opt = optim.Adam(learning_rate=3e-3)
p_opt = optim.Adam(learning_rate=3e-3)
s_step = nn.value_and_grad(student, dkd_loss)
p_step = nn.value_and_grad(plain, ce_loss)

print(f"{'ep':>3} {'kd_w':>5} {'total':>7} {'ce':>6} {'tckd':>6} {'nckd':>6} | "
      f"{'dkd_acc':>7} {'ce_only_acc':>11} {'agree_T':>7}")
for ep in range(EPOCHS):
    w = min(ep / WARM, 1.0)                 # exactly 0.0 during epoch 0
    tots, ces, tcs, ncs, pls = [], [], [], [], []
    for idx in batches(N_TR, 64, 500 + ep):
        x, y, tl = Xtr[idx], Ytr[idx], T_logits_tr[idx]
        (tot, (ce, tc, nc)), g = s_step(student, x, y, tl, w)
        s_opt.update(student, g)
        pl, pg = p_step(plain, x, y)
        p_opt.update(plain, pg)
        mx.eval(student.parameters(), s_opt.state, plain.parameters(), p_opt.state)
        tots.append(tot.item()); ces.append(ce.item()); tcs.append(tc.item())
        ncs.append(nc.item()); pls.append(pl.item())
    s_acc = accuracy(student, Xte, Yte)
    p_acc = accuracy(plain, Xte, Yte)
    agree = (mx.argmax(student(Xte), 1) == mx.argmax(teacher(Xte), 1)).mean().item()
    print(f"{ep:>3} {w:>5.2f} {np.mean(tots):>7.4f} {np.mean(ces):>6.4f} {np.mean(tcs):>6.4f} "
          f"{np.mean(ncs):>6.4f} | {s_acc:>7.3f} {p_acc:>11.3f} {agree:>7.3f}")

from mlx.utils import tree_flatten
drift = max(float(np.abs(np.array(v) - t_snapshot[k]).max())
            for k, v in tree_flatten(teacher.parameters()))
print(f"teacher weight drift after distillation: {drift:.1e}")
print(f"final test acc  teacher {t_acc:.3f}  dkd student {s_acc:.3f}  "
      f"ce-only student {p_acc:.3f}  ceiling {(cte == yte).mean():.3f}")
print(f"done in {time.time() - t0:.1f}s")
