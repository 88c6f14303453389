# Hot-air balloon: vertical speed (m/s) a minute after a burn, from flight-log readings.
# Weight-normalised MLP (w = g * v / ||v||) with data-dependent initialisation
# (Salimans & Kingma 2016): g and b are set from one batch so every hidden unit
# starts with zero mean / unit variance pre-activations.  Plain Nesterov SGD by hand,
# early stopping that restores the best weights.  One JSON object per report line.
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

FEATURES = ["burn_s", "envelope_C", "ambient_C", "altitude_m", "payload_kg", "shear"]


def simulate(n, rng):
    burn = rng.uniform(0, 20, n)
    env = rng.uniform(70, 120, n)
    amb = rng.uniform(-5, 30, n)
    alt = rng.uniform(0, 2500, n)
    pay = rng.uniform(250, 650, n)
    shear = rng.exponential(1.0, n)
    # made-up buoyancy law: lift grows with the envelope/ambient gap, thins with height
    rho = np.exp(-alt / 8500.0)
    lift = rho * (env - amb) * 0.05 * (1.0 + 0.06 * burn) - (pay - 400) / 150.0 - 2.2
    vs = 2.5 * np.tanh(lift / 2.0) - 0.25 * shear * np.sign(lift) + rng.normal(0, 0.25, n)
    X = np.stack([burn, env, amb, alt, pay, shear], 1).astype(np.float32)
    return X, vs.astype(np.float32)


class WNLinear(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.v = mx.random.normal((dout, din)) * 0.05
        self.g = mx.ones((dout,))
        self.b = mx.zeros((dout,))

    def direction(self, x):
        norm = mx.sqrt(mx.sum(self.v * self.v, axis=1))
        return (x @ self.v.T) / norm

    def __call__(self, x):
        return self.g * self.direction(x) + self.b


class AscentNet(nn.Module):
    def __init__(self, din, hidden=(96, 96)):
        super().__init__()
        dims = [din, *hidden]
        self.hidden = [WNLinear(a, b) for a, b in zip(dims[:-1], dims[1:])]
        self.head = WNLinear(dims[-1], 1)

    def __call__(self, x):
        for layer in self.hidden:
            x = nn.elu(layer(x))
        return self.head(x).squeeze(-1)

    def data_dependent_init(self, xb):
        """Scale g and shift b so each unit's pre-activation is N(0, 1) on xb."""
        h = xb
        for layer in self.hidden + [self.head]:
            t = layer.direction(h)
            mu, sd = mx.mean(t, axis=0), mx.sqrt(mx.var(t, axis=0) + 1e-6)
            layer.update({"g": 1.0 / sd, "b": -mu / sd})
            h = layer(h)
            if layer is not self.head:
                h = nn.elu(h)
        mx.eval(self.parameters())


class NesterovSGD:
    def __init__(self, lr, momentum=0.9):
        self.lr, self.mu, self.vel = lr, momentum, None

    def step(self, model, grads):
        if self.vel is None:
            self.vel = tree_map(mx.zeros_like, grads)
        self.vel = tree_map(lambda v, g: self.mu * v + g, self.vel, grads)
        step = tree_map(lambda v, g: g + self.mu * v, self.vel, grads)
        model.update(tree_map(lambda p, s: p - self.lr * s, model.trainable_parameters(), step))
        return self.vel


def emit(**rec):
    print(json.dumps(rec, separators=(",", ":")))


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    Xtr, ytr = simulate(4000, rng)
    Xva, yva = simulate(1500, rng)
    Xte, yte = simulate(3000, rng)
    mean, std = Xtr.mean(0), Xtr.std(0)
    to_mx = lambda a: mx.array((a - mean) / std)
    Xtr_m, Xva_m, Xte_m = to_mx(Xtr), to_mx(Xva), to_mx(Xte)
    ytr_m, yva_m, yte_m = mx.array(ytr), mx.array(yva), mx.array(yte)
    emit(event="data", train=len(ytr), val=len(yva), test=len(yte), features=FEATURES,
         predict_mean_rmse=round(float(np.sqrt(np.mean((yte - ytr.mean()) ** 2))), 4))

    model = AscentNet(len(FEATURES))
    model.data_dependent_init(Xtr_m[:256])
    pre = model.hidden[0].direction(Xtr_m[:256]) * model.hidden[0].g + model.hidden[0].b
    emit(event="ddi", layer0_mean=round(mx.mean(pre).item(), 4), layer0_std=round(mx.std(pre).item(), 4))

    def loss_fn(m, x, y):
        return mx.mean((m(x) - y) ** 2)

    vg = nn.value_and_grad(model, loss_fn)
    rmse = lambda x, y: mx.sqrt(mx.mean((model(x) - y) ** 2)).item()
    opt = NesterovSGD(lr=0.01, momentum=0.9)

    best = {"val": float("inf"), "epoch": 0, "params": None}
    patience, bad, batch = 12, 0, 32
    t0 = time.perf_counter()
    for epoch in range(1, 121):
        perm = rng.permutation(len(ytr))
        tot, nb = 0.0, 0
        for s in range(0, len(perm) - batch + 1, batch):
            idx = mx.array(perm[s:s + batch])
            loss, grads = vg(model, Xtr_m[idx], ytr_m[idx])
            if epoch == 1 and s == 0:
                flat = tree_flatten(grads)
                emit(event="grad_check", leaves=len(flat),
                     zero_leaves=[k for k, g in flat if not mx.any(g != 0).item()])
            vel = opt.step(model, grads)
            mx.eval(model.parameters(), vel, loss)
            tot += loss.item()
            nb += 1
        val = rmse(Xva_m, yva_m)
        improved = val < best["val"] - 1e-4
        if improved:
            best.update(val=val, epoch=epoch,
                        params=tree_map(lambda p: mx.array(p), model.trainable_parameters()))
            bad = 0
        else:
            bad += 1
        if epoch <= 3 or epoch % 10 == 0 or bad == patience:
            emit(epoch=epoch, train_mse=round(tot / nb, 5), val_rmse=round(val, 5),
                 best_epoch=best["epoch"], secs=round(time.perf_counter() - t0, 1))
        if bad == patience:
            emit(event="early_stop", epoch=epoch, best_epoch=best["epoch"], best_val_rmse=round(best["val"], 5))
            break
    last_test = rmse(Xte_m, yte_m)
    model.update(best["params"])
    mx.eval(model.parameters())
    emit(event="done", test_rmse_last=round(last_test, 5), test_rmse_restored=round(rmse(Xte_m, yte_m), 5),
         restored_val_rmse=round(rmse(Xva_m, yva_m), 5), units="m/s")


if __name__ == "__main__":
    main()
