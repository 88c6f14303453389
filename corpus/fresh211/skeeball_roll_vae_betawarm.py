"""Skee-ball roll signatures -> 2-d latent VAE.

Ten synthetic lane-sensor readings per roll are driven by two hidden factors
(release speed and aim).  The KL weight (beta) ramps from 0 to 1 over the
first epochs, and the learning rate warms up from exactly 0, so the total
objective climbs before it falls.  One JSON object per epoch; early stopping
on validation ELBO restores the best weights at the end.
"""
import json
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

mx.random.seed(5)
D, Z = 10, 2


def make_rolls(n, seed):
    k1, k2, k3 = mx.random.split(mx.random.key(seed), 3)
    speed = mx.random.normal((n,), key=k1)
    aim = mx.random.normal((n,), key=k2)
    cols = [
        speed, 0.8 * speed + 0.3 * aim, mx.tanh(speed) - aim, aim,
        0.5 * speed * aim, mx.sin(aim), speed ** 2 * 0.3 - 0.3,
        aim - 0.4 * speed, mx.tanh(aim + speed), 0.6 * speed - 0.6 * aim,
    ]
    x = mx.stack(cols, axis=1) + 0.1 * mx.random.normal((n, D), key=k3)
    return x


class RollVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mu = nn.Linear(64, Z)
        self.logvar = nn.Linear(64, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, D))

    def __call__(self, x, key=None):
        h = self.enc(x)
        mu, logvar = self.mu(h), mx.clip(self.logvar(h), -8.0, 4.0)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape, key=key)
        return self.dec(z), mu, logvar


def parts(model, x, key=None):
    xr, mu, logvar = model(x, key)
    recon = mx.sum(mx.square(xr - x), axis=1).mean() / (2 * 0.1 ** 2) / D   # per-dim gaussian nll (sd 0.1), up to a constant
    kl = (-0.5 * mx.sum(1 + logvar - mx.square(mu) - mx.exp(logvar), axis=1)).mean()
    return recon, kl


def loss_fn(model, x, beta):
    recon, kl = parts(model, x)
    return recon + beta * kl, (recon, kl)


xtr, xva = make_rolls(6000, 1), make_rolls(1500, 2)
VAL_KEY = mx.random.key(99)   # fixed noise so the validation bound is repeatable
mx.eval(xtr, xva)

model = RollVAE()
BS = 200
steps_per_epoch = 6000 // BS
warm = optim.linear_schedule(0.0, 2e-3, 2 * steps_per_epoch)
decay = optim.cosine_decay(2e-3, 38 * steps_per_epoch, 1e-5)
opt = optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [2 * steps_per_epoch]), weight_decay=1e-4)
grad_fn = nn.value_and_grad(model, loss_fn)

best, best_epoch, patience, bad = float("inf"), -1, 6, 0
best_params = None
print(json.dumps({"event": "start", "train": xtr.shape[0], "val": xva.shape[0], "lr_at_step0": opt.learning_rate.item()}))
for epoch in range(40):
    beta = min(1.0, epoch / 10.0)
    perm = mx.random.permutation(xtr.shape[0])
    tot = rec = kls = 0.0
    for b in range(steps_per_epoch):
        xb = xtr[perm[b * BS:(b + 1) * BS]]
        (loss, (r, k)), grads = grad_fn(model, xb, beta)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, r, k)
        tot += loss.item(); rec += r.item(); kls += k.item()
    vr, vk = parts(model, xva, VAL_KEY)
    val_elbo = (vr + vk).item()    # full beta=1 bound, comparable across epochs
    row = {"epoch": epoch, "beta": round(beta, 3), "lr": float(f"{opt.learning_rate.item():.3e}"),
           "loss": round(tot / steps_per_epoch, 4), "recon": round(rec / steps_per_epoch, 4),
           "kl": round(kls / steps_per_epoch, 4), "val_neg_elbo": round(val_elbo, 4)}
    if val_elbo < best:
        best, best_epoch, bad = val_elbo, epoch, 0
        best_params = tree_map(lambda p: mx.array(p), model.parameters())
        mx.eval(best_params)
        row["best"] = True
    else:
        bad += 1
    print(json.dumps(row))
    if bad >= patience:
        print(json.dumps({"event": "early_stop", "epoch": epoch, "patience": patience}))
        break

model.update(best_params)
vr, vk = parts(model, xva, VAL_KEY)
restored = (vr + vk).item()
print(json.dumps({"event": "restored", "best_epoch": best_epoch, "best_val_neg_elbo": round(best, 4),
                  "check_val_neg_elbo": round(restored, 4), "abs_diff": round(abs(restored - best), 4)}))
