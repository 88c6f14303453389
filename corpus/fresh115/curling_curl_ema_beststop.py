"""Curling: predict lateral curl (cm) of a stone from release speed, spin, ice temperature
and pebble age.  Custom activation with its own VJP, hand-written momentum update over
tree_flatten / tree_unflatten, a bias-corrected EMA of the train loss, and early stopping
that restores the best weights (checked on a validation split)."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten, tree_map


@mx.custom_function
def soft_relu(x):
    return mx.logaddexp(x, mx.zeros_like(x))          # softplus


@soft_relu.vjp
def soft_relu_vjp(primals, cotangent, output):
    x = primals                      # a single input arrives as the array itself
    return cotangent * mx.sigmoid(x)


class CurlNet(nn.Module):
    def __init__(self, d_in=4, width=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = soft_relu(self.l1(x))
        h = soft_relu(self.l2(h))
        return self.out(h).squeeze(-1)


def simulate(n, rng):
    speed = rng.uniform(1.8, 2.6, n)          # m/s at release
    spin = rng.uniform(1.5, 4.0, n)           # rotations over the sheet
    temp = rng.uniform(-7.0, -3.0, n)         # ice temperature C
    pebble = rng.uniform(0.0, 3.0, n)         # hours since pebbling
    curl = 120 * (2.7 - speed) ** 1.5 * (1 + 0.08 * (temp + 5)) + 25 / spin + 12 * np.log1p(pebble)
    curl = curl + rng.normal(0, 6.0, n)
    X = np.stack([speed, spin, temp, pebble], 1).astype(np.float32)
    return X, curl.astype(np.float32)


class Momentum:
    def __init__(self, lr, beta=0.9):
        self.lr, self.beta, self.vel = lr, beta, {}

    def step(self, model, grads):
        new = []
        params = dict(tree_flatten(model.trainable_parameters()))
        for k, g in tree_flatten(grads):
            v = self.beta * self.vel.get(k, mx.zeros_like(g)) + g
            self.vel[k] = v
            new.append((k, params[k] - self.lr * v))
        model.update(tree_unflatten(new))


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    Xtr, ytr = simulate(6000, rng)
    Xva, yva = simulate(1500, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    ym, ys = ytr.mean(), ytr.std()
    norm = lambda X: mx.array((X - mu) / sd)
    xtr, xva = norm(Xtr), norm(Xva)
    ttr, tva = mx.array((ytr - ym) / ys), mx.array((yva - ym) / ys)

    model = CurlNet()
    mx.eval(model.parameters())
    opt = Momentum(lr=0.004)

    def loss_fn(m, x, t):
        return nn.losses.mse_loss(m(x), t)

    vg = nn.value_and_grad(model, loss_fn)
    val_rmse = lambda: float(mx.sqrt(loss_fn(model, xva, tva)).item() * ys)

    print("curl model :: train {} throws :: valid {} throws :: predict-mean rmse {:.2f} cm".format(
        len(ytr), len(yva), float(np.sqrt(np.mean((yva - ym) ** 2)))))
    print("untrained  :: valid rmse {:.2f} cm".format(val_rmse()))

    ema, beta, nupd = 0.0, 0.98, 0
    best, best_ep, best_params, patience, bad = float("inf"), 0, None, 4, 0
    bs, t0 = 20, time.perf_counter()
    for ep in range(1, 61):
        perm = mx.array(rng.permutation(len(ytr)).astype(np.int32))
        for i in range(0, len(ytr) - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, grads = vg(model, xtr[idx], ttr[idx])
            if nupd == 0:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if not mx.any(g != 0).item()]
                print("grad check :: {} leaves :: zero {}".format(len(flat), zero or "none"))
            opt.step(model, grads)
            mx.eval(model.parameters(), opt.vel, loss)
            nupd += 1
            ema = beta * ema + (1 - beta) * loss.item()
        smoothed = ema / (1 - beta ** nupd)     # bias-corrected EMA, in standardised units
        v = val_rmse()
        flag = ""
        if v < best - 1e-3:
            best, best_ep, bad = v, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            flag = "*"
        else:
            bad += 1
        print("epoch {:>2} :: ema train mse {:.4f} :: valid rmse {:6.2f} cm {} :: {:.1f}s".format(
            ep, smoothed, v, flag, time.perf_counter() - t0))
        if bad >= patience:
            print("early stop :: no improvement for {} epochs".format(patience))
            break
    model.update(best_params)
    mx.eval(model.parameters())
    print("restored   :: epoch {} weights :: valid rmse {:.2f} cm (noise floor 6.00 cm)".format(best_ep, val_rmse()))


if __name__ == "__main__":
    main()
