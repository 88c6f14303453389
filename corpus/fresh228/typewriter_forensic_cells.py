# %% [markdown]
# Questioned-document lab: which of 5 office typewriters typed a page?
# Exported from a notebook; cells share globals on purpose (model, opt, best_*).

# %% cell 1 - imports and synthetic glyph measurements
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(5)
N_MACH, N_FEAT = 5, 12
# per-machine typeface defects: baseline drop of 'e','a','t', slant, ink density, spacing ...
signature = rng.normal(0, 1.0, size=(N_MACH, N_FEAT)).astype(np.float32)


def pages(n):
    lab = rng.integers(0, N_MACH, size=n)
    wear = rng.uniform(0.5, 1.5, size=(n, 1)).astype(np.float32)  # ribbon wear scales defects
    x = signature[lab] * wear + rng.normal(0, 1.4, size=(n, N_FEAT)).astype(np.float32)
    x[:, 3] = np.tanh(x[:, 3] * x[:, 7])  # slant x spacing interaction
    return mx.array(x), mx.array(lab)


x_tr, y_tr = pages(3000)
x_va, y_va = pages(800)
print(f"[cell 1] pages train={x_tr.shape[0]} val={x_va.shape[0]} features={N_FEAT} machines={N_MACH}")
print(f"[cell 1] chance accuracy = {100.0 / N_MACH:.1f}%  chance CE = {np.log(N_MACH):.3f} nats")


# %% cell 2 - model: a glyph encoder (pretend pre-trained) + a machine head
class Examiner(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(N_FEAT, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU())
        self.head = nn.Linear(48, N_MACH)

    def __call__(self, x):
        return self.head(self.encoder(x))


model = Examiner()
mx.eval(model.parameters())


def ce(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


def val_metrics():
    logits = model(x_va)
    acc = mx.mean(mx.argmax(logits, axis=1) == y_va).item()
    return nn.losses.cross_entropy(logits, y_va, reduction="mean").item(), 100.0 * acc


def n_trainable():
    return sum(v.size for _, v in nn.utils.tree_flatten(model.trainable_parameters()))


# %% cell 3 - linear probe: encoder frozen, only the head learns
model.encoder.freeze()
print(f"[cell 3] trainable params: {n_trainable()} (encoder frozen)")
opt = optim.Adagrad(learning_rate=0.1)
grad_fn = nn.value_and_grad(model, ce)
step = 0
for epoch in range(4):
    order = mx.array(rng.permutation(x_tr.shape[0]))
    for i in range(0, x_tr.shape[0], 100):
        idx = order[i:i + 100]
        loss, g = grad_fn(model, x_tr[idx], y_tr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
    vl, va = val_metrics()
    print(f"[cell 3] ep {epoch}  step {step:4d}  train_ce {loss.item():.3f}  val_ce {vl:.3f}  val_acc {va:5.1f}%")
probe_acc = va

# %% cell 4 - unfreeze everything, fresh optimizer, early stopping on val accuracy
model.unfreeze()
print(f"[cell 4] trainable params: {n_trainable()} (all)")
opt = optim.Adagrad(learning_rate=0.03)
grad_fn = nn.value_and_grad(model, ce)
step = 0
best_acc, best_epoch, best_params, patience = -1.0, -1, None, 0
for epoch in range(40):
    order = mx.array(rng.permutation(x_tr.shape[0]))
    for i in range(0, x_tr.shape[0], 100):
        idx = order[i:i + 100]
        loss, g = grad_fn(model, x_tr[idx], y_tr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
    if epoch == 0:
        zero = [k for k, v in nn.utils.tree_flatten(g) if mx.all(v == 0).item()]
        print(f"[cell 4] check: parameters with all-zero grad = {zero}")
    vl, va = val_metrics()
    flag = ""
    if va > best_acc:
        best_acc, best_epoch, patience = va, epoch, 0
        best_params = [(k, mx.array(v)) for k, v in nn.utils.tree_flatten(model.parameters())]
        flag = " *"
    else:
        patience += 1
    print(f"[cell 4] ep {epoch:2d}  step {step:4d}  train_ce {loss.item():.3f}  val_ce {vl:.3f}  val_acc {va:5.1f}%{flag}")
    if patience >= 6:
        print(f"[cell 4] stop: no better val_acc for 6 epochs")
        break

# %% cell 5 - restore the best checkpoint and report
model.update(nn.utils.tree_unflatten(best_params))
mx.eval(model.parameters())
vl, va = val_metrics()
print("\n| stage | val acc | note |")
print("|---|---|---|")
print(f"| chance | {100.0 / N_MACH:.1f}% | uniform guess |")
print(f"| probe (cell 3) | {probe_acc:.1f}% | encoder frozen |")
print(f"| fine-tune best (cell 4, ep {best_epoch}) | {va:.1f}% | restored, val_ce {vl:.3f} |")
