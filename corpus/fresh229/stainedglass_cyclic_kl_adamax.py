# beta-VAE on synthetic stained-glass pane patches (4x4 RGB tiles + lead came)
# cyclical KL annealing (beta restarts at 0 every cycle) and warm restarts
# whose learning rate starts from exactly 0; one JSON line per epoch.
import json
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)
N, D, Z = 3072, 48, 4


def make_panes(n):
    hue = mx.random.uniform(0, 2 * math.pi, (n, 1))
    sat = mx.random.uniform(0.3, 1.0, (n, 1))
    came = mx.random.uniform(0.0, 1.0, (n, 1))           # lead came darkness
    g = mx.arange(16).reshape(1, 16)
    border = ((g % 4 == 0) | (g % 4 == 3) | (g < 4) | (g > 11)).astype(mx.float32)
    shade = 0.5 + 0.5 * sat[:, :, None] * mx.cos(hue[:, :, None] + mx.array([0.0, 2.094, 4.189]).reshape(1, 3, 1))
    tile = shade * (1 - 0.8 * came[:, :, None] * border[:, None, :])  # (n,3,16)
    tile = tile + 0.03 * mx.random.normal(tile.shape)
    return tile.reshape(n, D)


class PaneVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, 96), nn.SiLU(), nn.Linear(96, 64), nn.SiLU())
        self.mu = nn.Linear(64, Z)
        self.logvar = nn.Linear(64, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 64), nn.SiLU(), nn.Linear(64, 96), nn.SiLU(), nn.Linear(96, D))

    def __call__(self, x, eps):
        h = self.enc(x)
        mu, lv = self.mu(h), self.logvar(h)
        z = mu + mx.exp(0.5 * lv) * eps
        return self.dec(z), mu, lv


def terms(model, x, eps):
    xh, mu, lv = model(x, eps)
    rec = mx.sum(mx.square(xh - x), axis=1).mean()
    kl = (-0.5 * mx.sum(1 + lv - mu * mu - mx.exp(lv), axis=1)).mean()
    return rec, kl


def objective(model, x, eps, beta):
    rec, kl = terms(model, x, eps)
    return rec + beta * kl, (rec, kl)


train, val = make_panes(N), make_panes(512)
mean_ref = mx.sum(mx.square(val - train.mean(axis=0)), axis=1).mean().item()

model = PaneVAE()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=0.0)
step_fn = nn.value_and_grad(model, objective)

# one audit of gradient reach before training
(_, _), g0 = step_fn(model, train[:64], mx.random.normal((64, Z)), 0.5)
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
print(f"audit: {len(tree_flatten(g0))} tensors, zero-grad: {zero or 'none'}")

CYCLES, EPOCHS, BS, PEAK = 3, 8, 128, 4e-3
steps_per_ep = N // BS
for cycle in range(CYCLES):
    for ep in range(EPOCHS):
        beta = min(1.0, ep / (EPOCHS / 2))               # 0 -> 1 within each cycle
        perm = mx.random.permutation(N)
        s_rec = s_kl = 0.0
        for b in range(steps_per_ep):
            t = (ep * steps_per_ep + b) / (EPOCHS * steps_per_ep)
            warm = min(1.0, t / 0.1)                       # exactly 0 at the cycle start
            opt.learning_rate = PEAK * warm * 0.5 * (1 + math.cos(math.pi * t))
            xb = train[perm[b * BS:(b + 1) * BS]]
            (loss, (rec, kl)), grads = step_fn(model, xb, mx.random.normal((BS, Z)), beta)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss, rec, kl)
            s_rec += rec.item()
            s_kl += kl.item()
        vr, vk = terms(model, val, mx.zeros((val.shape[0], Z)))
        print(json.dumps({"cycle": cycle, "ep": ep, "beta": round(beta, 2),
                          "lr_end": float(f"{opt.learning_rate.item():.2e}"),
                          "rec": round(s_rec / steps_per_ep, 4), "kl_nats": round(s_kl / steps_per_ep, 3),
                          "val_rec": round(vr.item(), 4), "mean_pane_ref": round(mean_ref, 4)}))

vr, vk = terms(model, val, mx.zeros((val.shape[0], Z)))
print(f"done: val recon {vr.item():.4f} vs mean-pane reference {mean_ref:.4f} "
      f"({100 * (1 - vr.item() / mean_ref):.1f}% lower), KL {vk.item():.2f} nats")
