"""Seaweed farm: grade kelp blades on the longline (food / feed / alginate / reject).

Stage A trains the reading tower with the per-site embedding frozen at zero
(all six farm sites treated alike), then writes a checkpoint to disk
(weights + Adam state + a json sidecar).  The process then throws the live
objects away, rebuilds them from the files, audits the round trip, unfreezes
the site embedding and goes on (stage B, warm-up from lr 0, step counter
restarting at 1).  At the end a bf16 export is written, reloaded and checked.
"""
import json
import logging
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("kelpgrade")

rng = np.random.default_rng(2261)
mx.random.seed(2261)
GRADES = ["food", "feed", "alginate", "reject"]
N_SITES = 6


def make_blades(n):
    site = rng.integers(0, N_SITES, n)
    length = rng.normal(180, 45, n)            # cm
    width = rng.normal(22, 6, n)               # cm
    holes = rng.poisson(2.0, n).astype(float)  # grazing holes per m
    epiphyte = rng.beta(2, 6, n)               # cover fraction
    water_t = rng.normal(11, 2.5, n)           # deg C
    nitrate = rng.lognormal(1.2, 0.5, n)       # umol/L
    days_out = rng.uniform(60, 200, n)         # days on the line
    turbidity = rng.normal(0, 1, n)            # noise-only reading
    site_shift = np.array([0.9, -0.6, 0.0, 0.5, -1.1, 0.3])[site]
    quality = (0.012 * (length - 180) + 0.05 * (width - 22) - 0.55 * holes
               - 4.0 * epiphyte - 0.25 * np.abs(water_t - 10.5) + 0.35 * np.log(nitrate)
               + site_shift + 1.8)
    age_pen = 0.02 * np.maximum(days_out - 150, 0)
    logits = np.stack([1.6 * quality - 0.6, 0.5 * quality + 0.3, -0.3 * quality + age_pen * 3,
                       -1.8 * quality - 0.6 + 0.5 * holes * epiphyte], 1)
    g = logits + rng.gumbel(size=logits.shape)
    y = g.argmax(1)
    X = np.stack([length, width, holes, epiphyte, water_t, nitrate, days_out, turbidity], 1)
    return X.astype(np.float32), site.astype(np.int32), y.astype(np.int32)


Xtr, Str, ytr = make_blades(9000)
Xva, Sva, yva = make_blades(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr_m, Xva_m = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
Str_m, Sva_m = mx.array(Str), mx.array(Sva)
ytr_m, yva_m = mx.array(ytr), mx.array(yva)
majority = float(np.mean(yva == np.bincount(ytr).argmax()))
prior = np.bincount(ytr, minlength=len(GRADES)) / len(ytr)
prior_nll = float(-np.mean(np.log(prior[yva])))


class GradeNet(nn.Module):
    def __init__(self, d_in, n_sites, d_site=4, h=96):
        super().__init__()
        self.site = nn.Embedding(n_sites, d_site)
        self.site.weight = mx.zeros((n_sites, d_site))
        self.tower = nn.Sequential(nn.Linear(d_in + d_site, h), nn.GELU(),
                                   nn.Linear(h, h), nn.GELU())
        self.head = nn.Linear(h, len(GRADES))

    def __call__(self, x, s):
        return self.head(self.tower(mx.concatenate([x, self.site(s)], axis=-1)))


def xent(m, x, s, y):
    return mx.mean(nn.losses.cross_entropy(m(x, s), y))


def val_metrics(m):
    logits = m(Xva_m, Sva_m)
    nll = mx.mean(nn.losses.cross_entropy(logits, yva_m)).item()
    acc = 100.0 * mx.mean(mx.argmax(logits, -1) == yva_m).item()
    return nll, acc, logits


def run_stage(name, model, opt, epochs, lr_fn, batch=150):
    lg = nn.value_and_grad(model, xent)
    step = 0
    n = Xtr_m.shape[0]
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        run = 0.0
        for i in range(0, n, batch):
            step += 1
            opt.learning_rate = lr_fn(step)
            idx = perm[i:i + batch]
            loss, grads = lg(model, Xtr_m[idx], Str_m[idx], ytr_m[idx])
            if step == 1:
                zero = [k for k, g in tree_flatten(grads) if not mx.any(g != 0).item()]
                log.info("stage=%s grad audit: trainable=%d zero-grad=%s", name,
                         len(tree_flatten(grads)), zero or "none")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        nll, acc, _ = val_metrics(model)
        log.info("stage=%s epoch=%d step=%d lr=%.2e train_xent=%.4f val_nll=%.4f val_acc=%.1f%% "
                 "(prior-only nll %.4f, majority %.1f%%)", name, ep, step, opt.learning_rate.item(),
                 run / (n // batch + (n % batch > 0)), nll, acc, prior_nll, 100 * majority)
    return step


ckdir = tempfile.mkdtemp(prefix="kelp_ckpt_")
W_PATH = os.path.join(ckdir, "model.safetensors")
O_PATH = os.path.join(ckdir, "adam_state.safetensors")
J_PATH = os.path.join(ckdir, "trainer.json")

# ---------------- stage A: site embedding frozen ----------------
log.info("grades train share: %s", " ".join(f"{g}={100 * p:.1f}%" for g, p in zip(GRADES, prior)))
model = GradeNet(Xtr.shape[1], N_SITES)
model.site.freeze()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
log.info("stage=A trainable tensors=%d (site embedding frozen)",
         len(tree_flatten(model.trainable_parameters())))
stepsA = run_stage("A", model, opt, epochs=5, lr_fn=lambda s: 3e-3)
nllA, accA, logitsA = val_metrics(model)

model.save_weights(W_PATH)
mx.save_safetensors(O_PATH, dict(tree_flatten(opt.state)))
with open(J_PATH, "w") as f:
    json.dump({"stage": "A", "steps": stepsA, "val_nll": nllA, "feat_mu": mu.tolist(),
               "feat_sd": sd.tolist()}, f)
saved = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
log.info("checkpoint written: %s (%d weight tensors, %d optimizer tensors)", ckdir,
         len(saved), len(tree_flatten(opt.state)))
del model, opt

# ---------------- reload from disk ----------------
with open(J_PATH) as f:
    meta = json.load(f)
model = GradeNet(Xtr.shape[1], N_SITES)
model.load_weights(W_PATH, strict=True)
opt = optim.Adam(learning_rate=0.0)
opt.state = tree_unflatten(list(mx.load(O_PATH).items()))
mx.eval(model.parameters(), opt.state)
w_gap = max(float(np.max(np.abs(np.array(v) - saved[k]))) for k, v in tree_flatten(model.parameters()))
nll_re, acc_re, logits_re = val_metrics(model)
logit_gap = mx.max(mx.abs(logits_re - logitsA)).item()
log.info("reload audit: json steps=%d adam step=%d max|w-w_saved|=%.1e max|logit diff|=%.1e "
         "val_nll %.4f -> %.4f", meta["steps"], int(opt.state["step"].item()), w_gap, logit_gap,
         meta["val_nll"], nll_re)

# ---------------- stage B: unfreeze site embedding, warm-up from 0 ----------------
model.unfreeze()
opt.init(model.trainable_parameters())
log.info("stage=B trainable tensors=%d (site embedding unfrozen)",
         len(tree_flatten(model.trainable_parameters())))
WARM = 120
stepsB = run_stage("B", model, opt, epochs=5,
                   lr_fn=lambda s: 1.5e-3 * min(1.0, (s - 1) / WARM))
nllB, accB, logitsB = val_metrics(model)
emb_norm = mx.linalg.norm(model.site.weight, axis=1)
log.info("site embedding row norms: %s", " ".join(f"{v:.2f}" for v in emb_norm.tolist()))

# ---------------- bf16 export round trip ----------------
E_PATH = os.path.join(ckdir, "export_bf16.safetensors")
mx.save_safetensors(E_PATH, {k: v.astype(mx.bfloat16) for k, v in tree_flatten(model.parameters())})
deployed = GradeNet(Xtr.shape[1], N_SITES)
deployed.load_weights([(k, v.astype(mx.float32)) for k, v in mx.load(E_PATH).items()], strict=True)
nllE, accE, logitsE = val_metrics(deployed)
agree = 100.0 * mx.mean(mx.argmax(logitsE, -1) == mx.argmax(logitsB, -1)).item()
log.info("export bf16: val_nll %.4f (fp32 %.4f) val_acc %.1f%% (fp32 %.1f%%) argmax agreement %.2f%%",
         nllE, nllB, accE, accB, agree)
log.info("summary: stage A %d steps val_acc %.1f%% -> stage B %d steps val_acc %.1f%%",
         stepsA, accA, stepsB, accB)
for p in (W_PATH, O_PATH, J_PATH, E_PATH):
    os.remove(p)
os.rmdir(ckdir)
