"""Salt-marsh sediment cores: carbon stock per core from its ragged list of layers.

Each core has 3..15 logged layers (thickness, dry bulk density, organic fraction,
grain size, depth of layer top).  All cores of a batch are concatenated into one
flat layer table with CSR row pointers; per-core pooling is a prefix-sum
difference at the row pointers.  A heteroscedastic Gaussian head is fitted by
NLL (it goes negative once the variance shrinks below 1/(2*pi*e)).

Schedule: linear warm-up from exactly 0, then cosine.  The run is cut in two
halves with a checkpoint written to disk and loaded into fresh objects.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
N_TRAIN, N_VAL = 1600, 400
F = 5


def make_cores(n):
    counts = rng.integers(3, 16, size=n)
    feats, targets = [], []
    for c in counts:
        thick = rng.gamma(2.0, 2.0, size=c)            # cm
        dens = rng.uniform(0.3, 1.4, size=c)            # g/cm3
        org = rng.beta(2.0, 6.0, size=c)                # fraction
        grain = rng.normal(0.0, 1.0, size=c)            # standardised phi
        top = np.concatenate([[0.0], np.cumsum(thick)[:-1]])
        # made-up law: carbon from organic layers, decaying with burial depth
        carbon = np.sum(thick * dens * org * np.exp(-top / 60.0)) * 0.5
        carbon += 0.3 * np.max(org) * 10.0
        noise_sd = 0.15 + 0.05 * c / 15.0
        targets.append(carbon + rng.normal(0.0, noise_sd))
        feats.append(np.stack([thick / 4.0, dens, org * 4.0, grain, top / 30.0], axis=1))
    return feats, np.array(targets, dtype=np.float32)


tr_feats, tr_y = make_cores(N_TRAIN)
va_feats, va_y = make_cores(N_VAL)
y_mu, y_sd = float(tr_y.mean()), float(tr_y.std())


def pack(feats, idx):
    rows = [feats[i] for i in idx]
    lengths = np.array([r.shape[0] for r in rows])
    row_ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    flat = np.concatenate(rows, axis=0).astype(np.float32)
    return mx.array(flat), mx.array(row_ptr), mx.array(lengths.astype(np.float32))


class CoreNet(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(F, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
        self.rho = nn.Sequential(nn.Linear(2 * hidden + 1, hidden), nn.GELU(), nn.Linear(hidden, 2))

    def __call__(self, flat, row_ptr, lengths):
        h = self.phi(flat)                                         # (L, H)
        csum = mx.concatenate([mx.zeros((1, h.shape[1])), mx.cumsum(h, axis=0)], axis=0)
        seg_sum = csum[row_ptr[1:]] - csum[row_ptr[:-1]]           # (B, H)
        seg_mean = seg_sum / lengths[:, None]
        z = mx.concatenate([seg_sum / 8.0, seg_mean, mx.log(lengths)[:, None]], axis=1)
        out = self.rho(z)
        return out[:, 0], out[:, 1]


def nll(model, flat, row_ptr, lengths, y):
    mu, log_var = model(flat, row_ptr, lengths)
    log_var = mx.clip(log_var, -9.0, 5.0)
    return mx.mean(0.5 * (log_var + (y - mu) ** 2 / mx.exp(log_var) + np.log(2 * np.pi)))


EPOCHS, BS = 36, 64
steps_per_epoch = N_TRAIN // BS
total_steps = EPOCHS * steps_per_epoch
warm = 40
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total_steps - warm, 1e-5)], [warm]
)

va_pack = pack(va_feats, np.arange(N_VAL))
va_t = mx.array((va_y - y_mu) / y_sd)


def evaluate(model):
    mu, log_var = model(*va_pack)
    pred = np.array(mu) * y_sd + y_mu
    rmse = float(np.sqrt(np.mean((pred - va_y) ** 2)))
    v_nll = nll(model, *va_pack, va_t).item()
    return v_nll, rmse


# baselines on the validation cores
base_mean = float(np.sqrt(np.mean((va_y - y_mu) ** 2)))
tr_thick = np.array([f[:, 0].sum() for f in tr_feats])
coef = np.polyfit(tr_thick, tr_y, 1)
va_thick = np.array([f[:, 0].sum() for f in va_feats])
base_lin = float(np.sqrt(np.mean((np.polyval(coef, va_thick) - va_y) ** 2)))
print(f"cores train={N_TRAIN} val={N_VAL} layers/core 3..15, target mean {y_mu:.2f} sd {y_sd:.2f}")
print(f"baseline val RMSE: predict-mean {base_mean:.3f} | linear-in-total-thickness {base_lin:.3f}")


def run_half(model, opt, epoch_lo, epoch_hi, order_rng):
    step_fn = nn.value_and_grad(model, nll)
    for epoch in range(epoch_lo, epoch_hi):
        perm = order_rng.permutation(N_TRAIN)
        losses = []
        for b in range(steps_per_epoch):
            idx = perm[b * BS:(b + 1) * BS]
            flat, row_ptr, lengths = pack(tr_feats, idx)
            y = mx.array((tr_y[idx] - y_mu) / y_sd)
            loss, grads = step_fn(model, flat, row_ptr, lengths, y)
            grads, _ = optim.clip_grad_norm(grads, 5.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            losses.append(loss.item())
        if epoch % 4 == 3 or epoch == epoch_lo:
            v_nll, rmse = evaluate(model)
            print(f"epoch {epoch + 1:3d} step {int(opt.step.item()):5d} lr {opt.learning_rate.item():.2e} "
                  f"train_nll {np.mean(losses):+.4f} val_nll {v_nll:+.4f} val_rmse {rmse:.3f}")


t0 = time.time()
mx.random.seed(3)
model = CoreNet()
opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
order_rng = np.random.default_rng(5)
half = EPOCHS // 2
print(f"lr at step 0 = {float(schedule(mx.array(0))):.1e} (warm-up {warm} steps)")
run_half(model, opt, 0, half, order_rng)

ckpt_dir = tempfile.mkdtemp()
w_path = os.path.join(ckpt_dir, "core_model.safetensors")
o_path = os.path.join(ckpt_dir, "core_opt.safetensors")
model.save_weights(w_path)
mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
before = evaluate(model)
print(f"checkpoint written after epoch {half}: val_nll {before[0]:+.4f} val_rmse {before[1]:.3f}")

model2 = CoreNet()
model2.load_weights(w_path)
opt2 = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
opt2.state = tree_unflatten(list(mx.load(o_path).items()))
mx.eval(model2.parameters(), opt2.state)
after = evaluate(model2)
print(f"resumed from checkpoint at step {int(opt2.step.item())}: val_nll {after[0]:+.4f} val_rmse {after[1]:.3f}")
run_half(model2, opt2, half, EPOCHS, order_rng)

v_nll, rmse = evaluate(model2)
print(f"final val_nll {v_nll:+.4f} val_rmse {rmse:.3f} "
      f"(baselines {base_mean:.3f} / {base_lin:.3f}) in {time.time() - t0:.1f}s")
