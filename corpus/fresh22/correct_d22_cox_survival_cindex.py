# Deep Cox proportional-hazards model (DeepSurv-style) on synthetic censored
# survival data.  Loss = negative Cox partial log-likelihood per observed event
# (Breslow ties).  This objective has a high irreducible floor, so the training
# number only moves a little; the held-out concordance index (Harrell's C,
# 0.5 = random ranking, 1.0 = perfect) is the number that shows progress.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
mx.random.seed(7)

D = 8
N_TRAIN, N_VAL = 3000, 800
beta = rng.normal(0, 0.7, size=D)


def make(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    eta = x @ beta + 0.8 * np.sin(2.0 * x[:, 0] * x[:, 1])
    t_event = rng.exponential(1.0 / np.exp(eta))
    t_cens = rng.exponential(1.0 / 0.35, size=n)
    t = np.minimum(t_event, t_cens).astype(np.float32)
    e = (t_event <= t_cens).astype(np.float32)
    return x, t, e, eta


xtr, ttr, etr, _ = make(N_TRAIN)
xva, tva, eva, eta_va = make(N_VAL)


def harrell_c(risk, t, e):
    # fraction of comparable pairs (i had the event first) ranked correctly
    risk = np.asarray(risk)
    order = np.argsort(t)
    risk, t, e = risk[order], t[order], e[order]
    num = den = 0.0
    for i in range(len(t)):
        if e[i] == 0:
            continue
        later = t > t[i]
        den += later.sum()
        num += (risk[i] > risk[later]).sum() + 0.5 * (risk[i] == risk[later]).sum()
    return num / den


class DeepSurv(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 48)
        self.l2 = nn.Linear(48, 48)
        self.drop = nn.Dropout(0.1)
        # no bias: a constant shift of the log-risk cancels in the partial likelihood
        self.out = nn.Linear(48, 1, bias=False)

    def __call__(self, x):
        h = self.drop(nn.silu(self.l1(x)))
        h = self.drop(nn.silu(self.l2(h)))
        return self.out(h).squeeze(-1)


def cox_nll(model, x, t, e):
    eta = model(x)
    order = mx.argsort(-t)  # descending time: risk set of i = everything before it
    eta_s, e_s = eta[order], e[order]
    log_risk = mx.logcumsumexp(eta_s, axis=0)
    return -mx.sum(e_s * (eta_s - log_risk)) / mx.maximum(mx.sum(e_s), 1.0)


model = DeepSurv()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=1e-3)
vg = nn.value_and_grad(model, cox_nll)

Xtr, Ttr, Etr = mx.array(xtr), mx.array(ttr), mx.array(etr)
Xva = mx.array(xva)
print(f"events: train {int(etr.sum())}/{N_TRAIN}  val {int(eva.sum())}/{N_VAL}")
print(f"oracle val C-index (true log-risk): {harrell_c(eta_va, tva, eva):.3f}")

BATCH = 500  # large batches: the partial likelihood needs big risk sets
EPOCHS = 60
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    model.train()
    perm = mx.array(rng.permutation(N_TRAIN))
    losses = []
    for s in range(0, N_TRAIN, BATCH):
        idx = perm[s : s + BATCH]
        loss, grads = vg(model, Xtr[idx], Ttr[idx], Etr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
    if ep % 5 == 0 or ep == 1:
        model.eval()
        c = harrell_c(np.array(model(Xva)), tva, eva)
        print(
            f"[ep {ep:02d}/{EPOCHS}] nll/event={np.mean(losses):.4f}  "
            f"val C-index={c:.3f}  ({time.time() - t0:.1f}s)",
            flush=True,
        )
print("done")
