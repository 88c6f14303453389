"""Yarn-lot matching: learn an embedding of swatch measurements so that two
swatches knitted from the same yarn lot land next to each other (InfoNCE),
then stop early and roll back to the best checkpoint."""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(132)
N_FEAT, N_LATENT = 10, 6
FEATS = ["wpi", "gauge_st", "gauge_row", "twist_tpi", "ply", "loft_mm",
         "drape_deg", "pill_idx", "stretch_pct", "sheen"]
MIX = rng.normal(size=(N_LATENT, N_FEAT)) / math.sqrt(N_LATENT)


def make_lots(n):
    z = rng.normal(size=(n, N_LATENT))
    return np.tanh(z @ MIX) * 2.0 + 0.3 * (z @ MIX) ** 2


def swatch(lots):
    # every swatch is a noisy, slightly rescaled measurement of its lot
    gain = 1.0 + 0.08 * rng.normal(size=(lots.shape[0], 1))
    return (lots * gain + 0.9 * rng.normal(size=lots.shape)).astype(np.float32)


train_lots, val_lots = make_lots(1200), make_lots(200)
val_a, val_b = mx.array(swatch(val_lots)), mx.array(swatch(val_lots))


class SwatchEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_FEAT, 64), nn.SiLU(),
                                  nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 16))

    def __call__(self, x):
        e = self.body(x)
        return e / mx.sqrt(mx.sum(e * e, axis=-1, keepdims=True) + 1e-8)


TEMP = 0.2


def info_nce(model, a, b):
    ea, eb = model(a), model(b)
    logits = ea @ eb.T / TEMP
    target = mx.arange(a.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, target, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, target, reduction="mean"))


def top1(model):
    sims = model(val_a) @ model(val_b).T
    return mx.mean(mx.argmax(sims, axis=1) == mx.arange(sims.shape[0])).item() * 100


model = SwatchEncoder()
opt = optim.Adagrad(learning_rate=0.02)
grad_fn = nn.value_and_grad(model, info_nce)

# one audit pass: every weight must receive gradient signal
_, g0 = grad_fn(model, mx.array(swatch(train_lots[:32])), mx.array(swatch(train_lots[:32])))
dead = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
print(f"grad audit: {len(tree_flatten(g0))} tensors, {len(dead)} without signal")

B, PATIENCE, MAX_EPOCHS = 48, 5, 60
best, best_epoch, best_params, waited = -1.0, 0, None, 0
chance = 100.0 / val_lots.shape[0]
print("| epoch | nce (nats) | log(B) | val top-1 | chance |")
print("|------:|-----------:|-------:|----------:|-------:|")
print(f"| {0:5d} | {'-':>10} | {math.log(B):6.3f} | {top1(model):8.1f}% | {chance:5.1f}% |")
for epoch in range(1, MAX_EPOCHS + 1):
    order = rng.permutation(train_lots.shape[0])
    tot, nb = 0.0, 0
    for s in range(0, len(order) - B + 1, B):
        lots = train_lots[order[s:s + B]]
        a, b = mx.array(swatch(lots)), mx.array(swatch(lots))
        loss, grads = grad_fn(model, a, b)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1
    acc = top1(model)
    print(f"| {epoch:5d} | {tot / nb:10.4f} | {math.log(B):6.3f} | {acc:8.1f}% | {chance:5.1f}% |")
    if acc > best:
        best, best_epoch, waited = acc, epoch, 0
        best_params = tree_map(lambda p: mx.array(p), model.parameters())
    else:
        waited += 1
        if waited >= PATIENCE:
            print(f"no gain for {PATIENCE} epochs, stopping at epoch {epoch}")
            break

model.update(best_params)
mx.eval(model.parameters())
print(f"restored epoch {best_epoch}: val top-1 {top1(model):.1f}% (chance {chance:.1f}%)")
