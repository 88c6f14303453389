# Hot-sauce kitchen: predict log10 Scoville heat of a bottling batch from its
# recipe sheet. Session 1 trains from scratch and writes a checkpoint (weights +
# optimizer state) into a scratch folder; session 2 rebuilds everything, loads
# the checkpoint and keeps fine-tuning at a lower rate on the same data plus the
# newest batches. Session 2 starts at the floor and barely moves, by design.
import logging
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
log = logging.getLogger("hotsauce")

FEATURES = ["habanero", "jalapeno", "ghost", "cayenne", "vinegar_pct", "ferment_days", "carrot_pct", "dilution"]


def make_batches(n, seed):
    r = np.random.default_rng(seed)
    mix = r.dirichlet([1.2, 2.0, 0.4, 1.0], n)
    vinegar = r.uniform(5, 35, n)
    days = r.integers(0, 60, n).astype(np.float64)
    carrot = r.uniform(0, 30, n)
    dilution = r.uniform(1, 4, n)
    # made-up pungency law: capsaicin per pepper type, diluted, a little lost in fermentation
    shu = (mix[:, 0] * 250e3 + mix[:, 1] * 6e3 + mix[:, 2] * 1.0e6 + mix[:, 3] * 40e3)
    shu = shu / dilution * (1 - 0.004 * days) * (1 - 0.006 * carrot) * (1 - 0.003 * vinegar)
    y = np.log10(shu) + r.normal(0, 0.05, n)
    x = np.column_stack([mix, vinegar / 35, days / 60, carrot / 30, np.log(dilution)])
    return x.astype(np.float32), y.astype(np.float32)


class HeatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(len(FEATURES), 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def run_epochs(model, opt, x, y, epochs, batch, seed, tag, x_val, y_val, report):
    step_fn = nn.value_and_grad(model, mse)
    order_rng = np.random.default_rng(seed)
    for ep in range(1, epochs + 1):
        perm = order_rng.permutation(len(y))
        tot, seen = 0.0, 0
        for i in range(0, len(y) - batch + 1, batch):
            idx = perm[i:i + batch]
            loss, g = step_fn(model, mx.array(x[idx]), mx.array(y[idx]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * len(idx)
            seen += len(idx)
        if report(ep):
            val = mse(model, mx.array(x_val), mx.array(y_val)).item()
            log.info("%s epoch=%d train_mse=%.5f val_rmse_dex=%.4f", tag, ep, tot / seen, val ** 0.5)


x_tr, y_tr = make_batches(6000, 1)
x_va, y_va = make_batches(1000, 2)
ckpt_dir = tempfile.mkdtemp(prefix="hotsauce_")
log.info("recipes: %d train / %d val, target std %.3f dex, noise 0.05 dex", len(y_tr), len(y_va), y_tr.std())

# ---------- session 1: from scratch ----------
mx.random.seed(0)
model = HeatNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
loss, g = nn.value_and_grad(model, mse)(model, mx.array(x_tr[:64]), mx.array(y_tr[:64]))
zero = [k for k, v in tree_flatten(g) if not mx.any(v != 0).item()]
log.info("session1 gradcheck leaves=%d zero=%s", len(tree_flatten(g)), zero or "none")
t0 = time.time()
run_epochs(model, opt, x_tr, y_tr, 30, 64, 10, "session1", x_va, y_va, lambda e: e == 1 or e % 5 == 0)
model.save_weights(os.path.join(ckpt_dir, "heatnet.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "adam_state.safetensors"), dict(tree_flatten(opt.state)))
log.info("session1 wrote checkpoint to %s after %.1fs", ckpt_dir, time.time() - t0)
ref_val = mse(model, mx.array(x_va), mx.array(y_va)).item()
del model, opt

# ---------- session 2: resume and fine-tune ----------
model = HeatNet()
model.load_weights(os.path.join(ckpt_dir, "heatnet.safetensors"))
opt = optim.Adam(learning_rate=3e-3)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "adam_state.safetensors")).items()))
opt.learning_rate = 3e-4
mx.eval(model.parameters(), opt.state)
resumed_val = mse(model, mx.array(x_va), mx.array(y_va)).item()
log.info("session2 resumed: val_rmse_dex=%.4f (session1 ended at %.4f), adam step=%d",
         resumed_val ** 0.5, ref_val ** 0.5, int(opt.state["step"].item()))
loss, g = nn.value_and_grad(model, mse)(model, mx.array(x_tr[:64]), mx.array(y_tr[:64]))
zero = [k for k, v in tree_flatten(g) if not mx.any(v != 0).item()]
log.info("session2 gradcheck leaves=%d zero=%s first_batch_mse=%.5f", len(tree_flatten(g)), zero or "none", loss.item())
x_new, y_new = make_batches(1500, 3)
x2, y2 = np.concatenate([x_tr, x_new]), np.concatenate([y_tr, y_new])
run_epochs(model, opt, x2, y2, 10, 64, 11, "session2", x_va, y_va, lambda e: True)
pred = np.array(model(mx.array(x_va)))
log.info("done: val MAE %.3f dex (x%.2f in SHU), noise floor rmse 0.050, predict-mean rmse %.3f",
         np.abs(pred - y_va).mean(), 10 ** np.abs(pred - y_va).mean(), y_va.std())
shutil.rmtree(ckpt_dir, ignore_errors=True)
