"""Sail loft: predict the draft depth (% of chord) of a cut mainsail panel
from 7 bench measurements. Compiled AdamW step, LR warmed up from exactly 0,
early stopping on validation MAE with best-weight restore."""
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)
N_TRAIN, N_VAL = 768, 192


def make_panels(n):
    # cloth weight (oz), luff curve (mm), broadseam (mm), batten stiffness,
    # panel count, fill stretch (%), bias stretch (%)
    x = mx.random.normal((n, 7))
    depth = (11.0 + 1.6 * x[:, 1] + 1.1 * x[:, 2] - 0.7 * x[:, 3]
             + 0.5 * x[:, 5] * x[:, 6] + 0.6 * mx.tanh(x[:, 0] * x[:, 4])
             + 0.25 * mx.random.normal((n,)))
    return x, depth


xtr, ytr = make_panels(N_TRAIN)
xva, yva = make_panels(N_VAL)
y_mu = ytr.mean()
y_sd = mx.sqrt(ytr.var())


class DraftNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))[:, 0]


model = DraftNet()
mx.eval(model.parameters())

EPOCHS, BS = 60, 64
steps_per_epoch = N_TRAIN // BS
warm = optim.linear_schedule(0.0, 3e-3, 4 * steps_per_epoch)
decay = optim.cosine_decay(3e-3, (EPOCHS - 4) * steps_per_epoch, 1e-5)
sched = optim.join_schedules([warm, decay], [4 * steps_per_epoch])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), (y - y_mu) / y_sd, delta=1.0).mean()


# gradient audit before training: every tensor must receive signal
_, g0 = nn.value_and_grad(model, loss_fn)(model, xtr[:BS], ytr[:BS])
flat = tree_flatten(g0)
nz = sum(1 for _, g in flat if mx.abs(g).sum().item() > 0)
print(f"grad-audit: {nz}/{len(flat)} tensors nonzero, "
      f"global norm {mx.sqrt(sum((g * g).sum() for _, g in flat)).item():.4f}")

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def val_mae():
    pred = model(xva) * y_sd + y_mu
    return mx.abs(pred - yva).mean().item()


baseline = mx.abs(y_mu - yva).mean().item()
print(f"{'ep':>3} | {'lr':>9} | {'train huber':>11} | {'val MAE %chord':>14} | {'mean-guess':>10} | note")
best, best_ep, patience, bad = float("inf"), -1, 8, 0
best_w = None
for ep in range(EPOCHS):
    perm = mx.random.permutation(N_TRAIN)
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BS:(i + 1) * BS]
        loss = step(xtr[idx], ytr[idx])
        mx.eval(loss, state)
        tot += loss.item()
    mae = val_mae()
    note = ""
    if mae < best - 1e-4:
        best, best_ep, bad = mae, ep, 0
        best_w = [(k, mx.array(v)) for k, v in tree_flatten(model.parameters())]
        mx.eval([v for _, v in best_w])
        note = "*"
    else:
        bad += 1
    print(f"{ep:>3} | {opt.learning_rate.item():9.2e} | {tot / steps_per_epoch:11.5f} | "
          f"{mae:14.4f} | {baseline:10.4f} | {note}")
    if bad >= patience:
        print(f"early stop at epoch {ep}: no val gain for {patience} epochs")
        break

model.load_weights(best_w)
mx.eval(model.parameters())
print(f"restored epoch {best_ep}: val MAE {val_mae():.4f} %chord (mean-guess {baseline:.4f})")
