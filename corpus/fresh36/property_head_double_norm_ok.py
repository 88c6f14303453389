# Property-prediction head: predict two molecular descriptors (logP, TPSA)
# from a fixed-length fingerprint. Targets are z-scored once at data prep.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N, F = 3000, 24
X = rng.normal(size=(N, F)).astype(np.float32)
W = rng.normal(size=(F, 2)).astype(np.float32) / np.sqrt(F)
h = np.tanh(X @ W * 1.5) + 0.3 * (X[:, :2] ** 2 - 1)
logp = 2.0 + 2.3 * (h[:, 0] / h[:, 0].std()) + rng.normal(0, 0.4, N)
tpsa = 70.0 + 72.0 * (h[:, 1] / h[:, 1].std()) + rng.normal(0, 10.0, N)
props = np.stack([logp, tpsa], 1).astype(np.float32)

# --- data preparation: z-score the properties (stats from the train split) ---
ntr = 2500
prop_mean = props[:ntr].mean(0)
prop_std = props[:ntr].std(0)
props_norm = (props - prop_mean) / prop_std
Xtr, Ytr = mx.array(X[:ntr]), mx.array(props_norm[:ntr])
Xva, Yva_raw = mx.array(X[ntr:]), props[ntr:]
print(f"logP mean/std {prop_mean[0]:.2f}/{prop_std[0]:.2f}   TPSA mean/std {prop_mean[1]:.1f}/{prop_std[1]:.1f}")

class PropertyHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(F, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 2))
        self.logp_mean, self.logp_std = float(prop_mean[0]), float(prop_std[0])
        self.tpsa_mean, self.tpsa_std = float(prop_mean[1]), float(prop_std[1])

    def __call__(self, x):
        return self.net(x)

model = PropertyHead()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)

def loss_fn(model, x, batch_properties):
    pred = model(x)
    # batch_properties are already normalized at data prep - use them directly
    normalized_targets = batch_properties
    logp_loss = mx.mean((pred[:, 0] - normalized_targets[:, 0]) ** 2)
    tpsa_loss = mx.mean((pred[:, 1] - normalized_targets[:, 1]) ** 2)
    return logp_loss + tpsa_loss

step = nn.value_and_grad(model, loss_fn)

def evaluate():
    p = np.array(model(Xva))
    pred_raw = np.stack([p[:, 0] * model.logp_std + model.logp_mean,
                         p[:, 1] * model.tpsa_std + model.tpsa_mean], 1)
    mae = np.abs(pred_raw - Yva_raw).mean(0)
    r2 = 1 - ((pred_raw - Yva_raw) ** 2).sum(0) / ((Yva_raw - Yva_raw.mean(0)) ** 2).sum(0)
    return mae, r2

print(f"{'epoch':>5} | {'train_mse':>9} | {'logP MAE':>8} | {'TPSA MAE':>8} | {'R2 logP':>7} | {'R2 TPSA':>7}")
t0 = time.time()
for epoch in range(1, 31):
    perm = mx.array(rng.permutation(ntr))
    tot, nb = 0.0, 0
    for i in range(0, ntr, 64):
        idx = perm[i:i + 64]
        loss, grads = step(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1
    if epoch in (1, 2, 3) or epoch % 3 == 0:
        mae, r2 = evaluate()
        print(f"{epoch:>5} | {tot / nb:>9.4f} | {mae[0]:>8.3f} | {mae[1]:>8.2f} | {r2[0]:>7.3f} | {r2[1]:>7.3f}")
print(f"done in {time.time() - t0:.1f}s")
