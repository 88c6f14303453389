"""Bookbindery QC: will a sewn book crack at the spine within a year of use?
Binary label from 5 standardised bench readings (paper grain angle, glue
film, thread tension, signature count, board flex). Discrete AdaBoost whose
weak learners are tiny Tanh MLPs (5-4-1), each trained from scratch with SGD
momentum on the row weights of its round. Later rounds see the rows the
ensemble still misclassifies, so each new learner's weighted error climbs
toward 0.5 by design while the ensemble error falls. The ensemble is written
to disk after round 6, read back, checked, and boosting continues from it.
"""
import json
import shutil
import os
import tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(21)
D = 5


def books(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    r1 = (x[:, 0] - 0.6) ** 2 + (x[:, 1] + 0.3) ** 2
    r2 = (x[:, 2] + 0.8) ** 2 + (x[:, 3] - 0.5) ** 2
    score = np.minimum(r1, r2) - 0.9 + 0.3 * x[:, 4]
    y = (score + 0.15 * rng.normal(size=n) < 0).astype(np.float32)
    return x, y


xtr, ytr = books(3000)
xte, yte = books(1500)
Xtr, Xte = mx.array(xtr), mx.array(xte)
Ytr_pm = mx.array(2 * ytr - 1)
print(f"train 3000 / test 1500, crack rate {ytr.mean():.3f} / {yte.mean():.3f}")


class Stump(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(D, 4)
        self.b = nn.Linear(4, 1)

    def __call__(self, x):
        return self.b(mx.tanh(self.a(x))).squeeze(-1)


def wbce(model, x, y, w):
    return mx.sum(w * nn.losses.binary_cross_entropy(model(x), y, reduction="none"))


def fit_learner(w, seed):
    mx.random.seed(seed)
    m = Stump()
    mx.eval(m.parameters())
    opt = optim.SGD(learning_rate=0.5, momentum=0.9)
    lg = nn.value_and_grad(m, wbce)
    wa, ya = mx.array(w.astype(np.float32)), mx.array(ytr)
    for _ in range(200):
        loss, g = lg(m, Xtr, ya, wa)
        opt.update(m, g)
        mx.eval(m.parameters(), opt.state)
    return m, loss.item()


def vote(m, x):
    return mx.where(m(x) > 0, 1.0, -1.0)


def ens_score(learners, alphas, x):
    s = mx.zeros((x.shape[0],))
    for m, a in zip(learners, alphas):
        s = s + a * vote(m, x)
    return s


def ens_err(learners, alphas, x, y):
    return float(np.mean((np.array(ens_score(learners, alphas, x)) > 0) != (y > 0.5)))


# reference rows
print(f"reference  always-no-crack test error {min(yte.mean(), 1 - yte.mean()):.4f}")
single, _ = fit_learner(np.full(3000, 1 / 3000), seed=999)
print(f"reference  single 5-4-1 learner, uniform weights, test error "
      f"{np.mean((np.array(single(Xte)) > 0) != (yte > 0.5)):.4f}")

ROUNDS, SAVE_AT = 12, 6
w = np.full(3000, 1 / 3000)
learners, alphas = [], []
ckpt = tempfile.mkdtemp(prefix="bindery_boost_")
print("round  weighted-bce  weighted-err  alpha   ens train err  ens test err")
r = 1
while r <= ROUNDS:
    m, wl = fit_learner(w, seed=100 + r)
    pred = np.array(vote(m, Xtr))
    miss = pred != np.array(Ytr_pm)
    err = float(np.clip(w[miss].sum(), 1e-6, 1 - 1e-6))
    a = 0.5 * np.log((1 - err) / err)
    w = w * np.exp(-a * pred * np.array(Ytr_pm))
    w = w / w.sum()
    learners.append(m)
    alphas.append(float(a))
    print(f"{r:5d}  {wl:11.4f}  {err:12.4f}  {a:6.3f}   {ens_err(learners, alphas, Xtr, ytr):12.4f}  "
          f"{ens_err(learners, alphas, Xte, yte):12.4f}")
    if r == SAVE_AT:
        for i, lm in enumerate(learners):
            lm.save_weights(os.path.join(ckpt, f"learner_{i:02d}.safetensors"))
        np.save(os.path.join(ckpt, "row_weights.npy"), w)
        with open(os.path.join(ckpt, "state.json"), "w") as f:
            json.dump({"round": r, "alphas": alphas}, f)
        before = ens_err(learners, alphas, Xte, yte)
        # read the ensemble back and continue from the files only
        with open(os.path.join(ckpt, "state.json")) as f:
            st = json.load(f)
        learners = []
        for i in range(st["round"]):
            lm = Stump()
            lm.load_weights(os.path.join(ckpt, f"learner_{i:02d}.safetensors"))
            learners.append(lm)
        alphas = st["alphas"]
        w = np.load(os.path.join(ckpt, "row_weights.npy"))
        after = ens_err(learners, alphas, Xte, yte)
        print(f"  checkpoint written to {os.path.basename(ckpt)} and read back: test error {before:.4f} -> {after:.4f}")
        r = st["round"]
    r += 1
print(f"final ensemble of {len(learners)} learners: test error {ens_err(learners, alphas, Xte, yte):.4f}")
shutil.rmtree(ckpt)
