"""Salt-marsh vegetation zone mapping (5 zones) from six survey readings.

Three estuary survey teams each trained their own zone classifier on their own
labelled quadrats.  A single field-tablet model is wanted, but the raw labels
cannot be pooled, so the tablet model is distilled from the panel of three
site models on an unlabelled transfer set of plots from all three estuaries
(targets = mean of the site models' probabilities).  Distillation runs on a
laptop in two sittings: the first sitting saves a checkpoint, the second one
rebuilds everything from disk and carries on.
"""
import json
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

ZONES = ["mudflat", "low-marsh", "high-marsh", "reed", "upland"]
rng = np.random.default_rng(77)
W_TRUE = rng.normal(0.0, 1.0, (6, 5)).astype(np.float32)


def survey(n, elev_shift, sal_shift):
    x = rng.normal(0.0, 1.0, (n, 6)).astype(np.float32)
    x[:, 0] += elev_shift            # elevation above datum
    x[:, 1] += sal_shift             # pore-water salinity
    x[:, 2] = -0.8 * x[:, 0] + 0.6 * rng.normal(0.0, 1.0, n)   # hours inundated
    elev = x[:, 0]
    band = np.stack([-(elev + 1.6) ** 2, -(elev + 0.5) ** 2, -(elev - 0.4) ** 2,
                     -(elev - 0.9) ** 2 - 0.6 * x[:, 1], -(elev - 1.7) ** 2], 1)
    score = 2.0 * band + 0.5 * (x @ W_TRUE) + rng.gumbel(size=(n, 5)) * 0.5
    return x, score.argmax(1).astype(np.int32)


SITES = {"north": (-0.8, 0.4), "delta": (0.0, -0.6), "south": (0.8, 0.2)}
site_data = {k: survey(1500, *v) for k, v in SITES.items()}
transfer = np.concatenate([survey(2000, *v)[0] for v in SITES.values()])
test_parts = [survey(800, *v) for v in SITES.values()]
X_te = mx.array(np.concatenate([p[0] for p in test_parts]))
Y_te = mx.array(np.concatenate([p[1] for p in test_parts]))


def mlp(width, depth):
    layers, d = [], 6
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.LayerNorm(width), nn.GELU()]
        d = width
    layers.append(nn.Linear(d, 5))
    return nn.Sequential(*layers)


def kv(**fields):
    out = []
    for k, v in fields.items():
        out.append(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}")
    print(" ".join(out), flush=True)


t0 = time.time()
kv(stage="data", transfer_plots=len(transfer), test_plots=Y_te.size,
   sites=",".join(SITES))

# -- site models: trained quietly, one summary line each --------------------
panel = {}
for s_i, (site, (xs, ys)) in enumerate(site_data.items()):
    mx.random.seed(10 + s_i)
    m = mlp(64, 2)
    opt = optim.Adam(learning_rate=2e-3)
    X, Y = mx.array(xs), mx.array(ys)
    lg = nn.value_and_grad(m, lambda xb, yb: nn.losses.cross_entropy(m(xb), yb, reduction="mean"))
    for ep in range(25):
        perm = mx.array(rng.permutation(len(ys)).astype(np.int32))
        for i in range(0, len(ys), 50):
            idx = perm[i:i + 50]
            loss, g = lg(X[idx], Y[idx])
            opt.update(m, g)
            mx.eval(m.parameters(), opt.state)
    m.eval()
    m.freeze()
    acc_home = mx.mean(mx.argmax(m(X), 1) == Y).item() * 100
    acc_all = mx.mean(mx.argmax(m(X_te), 1) == Y_te).item() * 100
    kv(stage="site_model", site=site, home_acc_pct=acc_home, pooled_test_acc_pct=acc_all)
    panel[site] = m

Xtr = mx.array(transfer)
probs = mx.stack([mx.softmax(m(Xtr), axis=1) for m in panel.values()]).mean(0)
target = mx.stop_gradient(probs)
target_entropy = -mx.mean(mx.sum(target * mx.log(target + 1e-12), 1)).item()
panel_te = mx.stack([mx.softmax(m(X_te), axis=1) for m in panel.values()]).mean(0)
panel_acc = mx.mean(mx.argmax(panel_te, 1) == Y_te).item() * 100
kv(stage="panel", pooled_test_acc_pct=panel_acc, target_entropy_nats=target_entropy)


def soft_xent(model, xb, tb):
    logq = nn.log_softmax(model(xb), axis=1)
    return -mx.mean(mx.sum(tb * logq, axis=1))


def kl_to_panel(model):
    logq = nn.log_softmax(model(Xtr), axis=1)
    return mx.mean(mx.sum(target * (mx.log(target + 1e-12) - logq), 1)).item()


def test_acc(model):
    return mx.mean(mx.argmax(model(X_te), 1) == Y_te).item() * 100


EPOCHS_PER_SITTING = 12
BATCH = 120
steps_per_epoch = len(transfer) // BATCH
sched = optim.exponential_decay(3e-3, 0.995)


def run_sitting(model, opt, first_epoch, n_epochs, sitting):
    lg = nn.value_and_grad(model, lambda xb, tb: soft_xent(model, xb, tb))
    for ep in range(first_epoch, first_epoch + n_epochs):
        perm = mx.array(rng.permutation(len(transfer)).astype(np.int32))
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss, g = lg(Xtr[idx], target[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        if ep % 3 == 0 or ep == first_epoch:
            kv(stage="distill", sitting=sitting, epoch=ep, lr=opt.learning_rate.item(),
               soft_xent_nats=tot / steps_per_epoch, kl_to_panel_nats=kl_to_panel(model),
               test_acc_pct=test_acc(model))


# -- sitting 1 ---------------------------------------------------------------
mx.random.seed(5)
tablet = mlp(48, 2)
opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
kv(stage="distill", sitting=1, epoch=0, kl_to_panel_nats=kl_to_panel(tablet),
   test_acc_pct=test_acc(tablet))
run_sitting(tablet, opt, 1, EPOCHS_PER_SITTING, 1)

ckpt = tempfile.mkdtemp(prefix="marsh_ckpt_")
tablet.save_weights(os.path.join(ckpt, "tablet.safetensors"))
mx.savez(os.path.join(ckpt, "opt_state.npz"), **dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as fh:
    json.dump({"epoch": EPOCHS_PER_SITTING}, fh)
probe = X_te[:64]
saved_pred = tablet(probe)
mx.eval(saved_pred)
kv(stage="checkpoint", dir=os.path.basename(ckpt), epoch=EPOCHS_PER_SITTING,
   opt_step=int(opt.state["step"].item()))
del tablet, opt

# -- sitting 2: everything rebuilt from disk ---------------------------------
with open(os.path.join(ckpt, "meta.json")) as fh:
    meta = json.load(fh)
tablet = mlp(48, 2)
tablet.load_weights(os.path.join(ckpt, "tablet.safetensors"))
opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
opt.init(tablet.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt_state.npz")).items()))
gap = mx.max(mx.abs(tablet(probe) - saved_pred)).item()
kv(stage="resume", epoch=meta["epoch"], opt_step=int(opt.state["step"].item()),
   lr=opt.learning_rate.item(), max_pred_gap=gap)
run_sitting(tablet, opt, meta["epoch"] + 1, EPOCHS_PER_SITTING, 2)

kv(stage="done", tablet_test_acc_pct=test_acc(tablet), panel_test_acc_pct=panel_acc,
   kl_to_panel_nats=kl_to_panel(tablet), secs=time.time() - t0)
shutil.rmtree(ckpt, ignore_errors=True)
