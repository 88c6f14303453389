"""Calibrate a new batch of quiz items onto last year's scale (2PL IRT, anchor-item linking).

Last year's 30 items were calibrated already: their discrimination / difficulty are
kept FIXED (the anchor bank is frozen on purpose), so the 50 new items and this year's
students land on the same ability scale.  Synthetic responses, CPU only.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)
N_STUDENTS, N_ANCHOR, N_NEW, NEW_PER_STUDENT = 4000, 30, 50, 25

# ---- simulate last year's calibrated anchors, this year's items and students -------
anchor_a = rng.lognormal(0.1, 0.25, N_ANCHOR).astype(np.float32)
anchor_b = rng.normal(0.0, 1.0, N_ANCHOR).astype(np.float32)
new_a = rng.lognormal(0.1, 0.3, N_NEW).astype(np.float32)
new_b = rng.normal(0.4, 1.1, N_NEW).astype(np.float32)  # new form is a bit harder
theta_true = rng.normal(0.25, 1.0, N_STUDENTS).astype(np.float32)

true_a = np.concatenate([anchor_a, new_a])
true_b = np.concatenate([anchor_b, new_b])

stud, item = [], []
for s in range(N_STUDENTS):
    picked = N_ANCHOR + rng.choice(N_NEW, NEW_PER_STUDENT, replace=False)
    for i in np.concatenate([np.arange(N_ANCHOR), picked]):
        stud.append(s)
        item.append(i)
stud = np.array(stud, dtype=np.int32)
item = np.array(item, dtype=np.int32)
p = 1.0 / (1.0 + np.exp(-true_a[item] * (theta_true[stud] - true_b[item])))
resp = (rng.random(len(p)) < p).astype(np.float32)

perm = rng.permutation(len(resp))
n_hold = len(resp) // 10
hold_idx, train_idx = perm[:n_hold], perm[n_hold:]
print(f"responses: {len(resp)} ({len(train_idx)} train / {n_hold} held out); "
      f"{N_ANCHOR} anchor + {N_NEW} new items; {N_STUDENTS} students; "
      f"mean score {resp.mean():.3f}")


class AnchorBank(nn.Module):
    """Item parameters carried over from last year's calibration."""

    def __init__(self, a, b):
        super().__init__()
        self.log_a = mx.array(np.log(a))
        self.b = mx.array(b)


class TwoPL(nn.Module):
    def __init__(self, n_students, anchors, n_new):
        super().__init__()
        self.anchors = anchors
        self.theta = nn.Embedding(n_students, 1)
        self.theta.weight = mx.array(theta0[:, None])
        self.new_log_a = mx.zeros((n_new,))
        self.new_b = mx.zeros((n_new,))

    def item_params(self):
        log_a = mx.concatenate([self.anchors.log_a, self.new_log_a])
        b = mx.concatenate([self.anchors.b, self.new_b])
        return mx.exp(log_a), b

    def __call__(self, s, i):
        a, b = self.item_params()
        th = self.theta(s)[:, 0]
        return a[i] * (th - b[i])


# start each ability at the standardised logit of the student's training raw score
k_right = np.bincount(stud[train_idx], weights=resp[train_idx], minlength=N_STUDENTS)
k_all = np.bincount(stud[train_idx], minlength=N_STUDENTS)
raw = np.log((k_right + 0.5) / (k_all - k_right + 0.5))
theta0 = ((raw - raw.mean()) / raw.std()).astype(np.float32)

model = TwoPL(N_STUDENTS, AnchorBank(anchor_a, anchor_b), N_NEW)
model.anchors.freeze()  # linking: these must not move
mx.eval(model.parameters())
anchor_before = {k: np.array(v) for k, v in tree_flatten(model.anchors.parameters())}

n_train = len(train_idx)
per_student = mx.array(np.bincount(stud[train_idx], minlength=N_STUDENTS).astype(np.float32))


def loss_fn(model, s, i, y):
    logits = model(s, i)
    nll = nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="mean")
    # N(0,1) ability prior (MAP), spread over each student's k training responses
    th = model.theta(s)[:, 0]
    prior = mx.mean(0.5 * th**2 / per_student[s])
    # the usual item priors: log a ~ N(0, 0.5^2), b ~ N(0, 2^2), over the whole train set
    item_prior = (0.5 * mx.sum((model.new_log_a / 0.5) ** 2)
                  + 0.5 * mx.sum((model.new_b / 2.0) ** 2)) / n_train
    return nll + prior + item_prior, nll


loss_and_grad = nn.value_and_grad(model, loss_fn)
schedule = optim.exponential_decay(0.05, 0.9995)
opt = optim.Adam(learning_rate=schedule, bias_correction=True)

S_hold, I_hold, Y_hold = (mx.array(stud[hold_idx]), mx.array(item[hold_idx]),
                          mx.array(resp[hold_idx]))


def spearman(x, y):
    rx = np.argsort(np.argsort(x)).astype(np.float64)
    ry = np.argsort(np.argsort(y)).astype(np.float64)
    return float(np.corrcoef(rx, ry)[0, 1])


def report(epoch, train_nll, secs):
    held = nn.losses.binary_cross_entropy(model(S_hold, I_hold), Y_hold,
                                          with_logits=True, reduction="mean")
    a, b = model.item_params()
    b_new = np.array(b[N_ANCHOR:])
    a_new = np.array(a[N_ANCHOR:])
    th = np.array(model.theta.weight[:, 0])
    print(f"epoch: {epoch}; lr: {float(opt.learning_rate):.4f}; "
          f"train_nll: {train_nll:.4f}; held_out_nll: {held.item():.4f}; "
          f"new_b_rmse: {np.sqrt(np.mean((b_new - new_b) ** 2)):.3f}; "
          f"new_a_rmse: {np.sqrt(np.mean((a_new - new_a) ** 2)):.3f}; "
          f"ability_rank_agreement: {spearman(th, theta_true):.3f}; "
          f"elapsed: {secs:.1f}s")


BATCH, EPOCHS = 2048, 30
print(f"trainable leaves: {[k for k, _ in tree_flatten(model.trainable_parameters())]}; "
      f"frozen: {[k for k, _ in tree_flatten(model.anchors.parameters())]}")
report(0, float("nan"), 0.0)
t0 = time.perf_counter()
step = 0
for epoch in range(1, EPOCHS + 1):
    order = train_idx[rng.permutation(n_train)]
    tot, cnt = 0.0, 0
    for start in range(0, n_train, BATCH):
        j = order[start:start + BATCH]
        s, i, y = mx.array(stud[j]), mx.array(item[j]), mx.array(resp[j])
        (loss, nll), grads = loss_and_grad(model, s, i, y)
        if step == 0:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
            print(f"first step: {len(leaves)} gradient leaves, zero leaves: {zero}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, nll)
        tot += nll.item() * len(j)
        cnt += len(j)
        step += 1
    if epoch in (1, 2, 3) or epoch % 5 == 0:
        report(epoch, tot / cnt, time.perf_counter() - t0)

drift = max(float(np.abs(np.array(v) - anchor_before[k]).max())
            for k, v in tree_flatten(model.anchors.parameters()))
print(f"done: {step} steps; anchor drift {drift:.1e}; "
      f"mean ability this year {float(model.theta.weight.mean()):+.3f} "
      f"(true {theta_true.mean():+.3f})")
