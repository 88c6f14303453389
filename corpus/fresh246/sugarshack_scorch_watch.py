"""Sugar shack evaporator log: will a syrup draw-off batch scorch (rare event)?"""
import os, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)

def shack_log(n):
    brix = rng.normal(66.5, 1.2, n)
    flue_c = rng.normal(520, 45, n)
    sap_sugar = rng.uniform(1.5, 3.2, n)
    pan_level_cm = rng.uniform(2.0, 6.0, n)
    niter_scale = rng.gamma(2.0, 0.6, n)
    draw_gap_min = rng.uniform(5, 40, n)
    z = (-4.2 + 1.1 * (brix - 66.5) + 0.018 * (flue_c - 520) - 0.9 * (pan_level_cm - 4)
         + 0.7 * niter_scale + 0.04 * (draw_gap_min - 20) + 0.5 * (sap_sugar - 2.3))
    p = 1 / (1 + np.exp(-z))
    y = (rng.uniform(size=n) < p).astype(np.float32)
    X = np.stack([brix, flue_c, sap_sugar, pan_level_cm, niter_scale, draw_gap_min], 1).astype(np.float32)
    return X, y

Xtr, ytr = shack_log(9000)
Xva, yva = shack_log(2500)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
prior = float(ytr.mean())
ytr_m, yva_m = mx.array(ytr), mx.array(yva)
print(f"scorch rate train {prior:.3f} valid {yva.mean():.3f}")

pos_w = (1 - prior) / prior

class ScorchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU())
        self.head = nn.Linear(48, 1)
    def __call__(self, x):
        return self.head(self.trunk(x)).squeeze(-1)

def weighted_bce(model, x, y, w_pos):
    logits = model(x)
    w = mx.where(y > 0.5, w_pos, 1.0)
    return nn.losses.binary_cross_entropy(logits, y, weights=w, reduction="sum") / mx.sum(w)

def average_precision(scores, labels):
    order = np.argsort(-scores)
    l = labels[order]
    tp = np.cumsum(l)
    prec = tp / np.arange(1, len(l) + 1)
    return float((prec * l).sum() / max(l.sum(), 1))

def val_report(model):
    logits = model(Xva)
    p = mx.sigmoid(logits)
    nll = nn.losses.binary_cross_entropy(logits, yva_m, reduction="mean").item()
    prior_nll = -(yva.mean() * np.log(prior) + (1 - yva.mean()) * np.log(1 - prior))
    ap = average_precision(np.array(p), yva)
    return nll, prior_nll - nll, ap

model = ScorchNet()
mx.eval(model.parameters())
ckpt = os.path.join(tempfile.mkdtemp("_shack"), "best.safetensors")

def run_stage(name, opt, w_pos, max_epochs, patience, bs=256):
    grad_fn = nn.value_and_grad(model, weighted_bce)
    best_ap, bad = -1.0, 0
    for ep in range(1, max_epochs + 1):
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        tot, nb = 0.0, 0
        for i in range(0, Xtr.shape[0], bs):
            idx = perm[i:i + bs]
            loss, g = grad_fn(model, Xtr[idx], ytr_m[idx], w_pos)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        nll, gain, ap = val_report(model)
        improved = ap > best_ap + 1e-4
        if improved:
            best_ap, bad = ap, 0
            model.save_weights(ckpt)
        else:
            bad += 1
        print(f"[{name}] epoch {ep:2d} train_wbce {tot / nb:.4f} val_nll {nll:.4f} "
              f"gain_vs_prior {gain:+.4f} AP {ap:.3f} (prior AP {yva.mean():.3f})"
              + (" *" if improved else ""))
        if bad >= patience:
            print(f"[{name}] no AP gain for {patience} epochs, stopping at epoch {ep}")
            break
    model.load_weights(ckpt)
    nll, gain, ap = val_report(model)
    print(f"[{name}] restored best: val_nll {nll:.4f} gain_vs_prior {gain:+.4f} AP {ap:.3f}")

# stage 1: class-weighted loss, fast learning
run_stage("weighted", optim.Adam(learning_rate=2e-3), pos_w, 40, 5)
# stage 2: plain likelihood with the trunk frozen, to recalibrate the head
model.trunk.freeze()
run_stage("calibrate", optim.SGD(learning_rate=0.05, momentum=0.9), 1.0, 15, 4)
model.unfreeze()
nll, gain, ap = val_report(model)
print(f"final: val_nll {nll:.4f}  gain over prior {gain:+.4f} nats  AP {ap:.3f}")
