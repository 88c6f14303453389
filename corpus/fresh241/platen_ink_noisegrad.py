"""Letterpress platen shop: predict print ink density from press-side readings.

Heteroscedastic Gaussian head (mean + log-variance), SGD with momentum and
annealed Gaussian gradient noise (sigma_t^2 = eta / (1 + t)^0.55), linear
warmup from lr 0, two stages with a checkpoint written and read back between
them.
"""
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

mx.random.seed(11)

N_TRAIN, N_VAL, D = 3000, 600, 6


def make_press_data(n):
    x = mx.random.uniform(-1.0, 1.0, (n, D))
    pressure, viscosity, moisture, speed, wear, temp = [x[:, i] for i in range(D)]
    mean = 1.2 + 0.5 * pressure - 0.3 * viscosity ** 2 + 0.25 * mx.sin(2.5 * speed) - 0.2 * wear * pressure + 0.1 * temp
    noise_sd = 0.05 + 0.12 * (moisture + 1.0) / 2.0
    y = mean + noise_sd * mx.random.normal((n,))
    return x, y


class DensityNet(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.l1 = nn.Linear(D, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.mu = nn.Linear(hidden, 1)
        self.logvar = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.silu(self.l2(nn.silu(self.l1(x))))
        return self.mu(h).squeeze(-1), self.logvar(h).squeeze(-1)


def gaussian_nll(model, x, y):
    mu, logvar = model(x)
    return mx.mean(0.5 * (logvar + (y - mu) ** 2 / mx.exp(logvar)))


def rmse(model, x, y):
    mu, _ = model(x)
    return mx.sqrt(mx.mean((mu - y) ** 2)).item()


def lr_at(step, base=0.02, warm=60):
    return base * min(step, warm) / warm


def run_stage(model, opt, loss_and_grad, xtr, ytr, xva, yva, start, stop, eta, log_every, tag):
    bs = 64
    for step in range(start, stop):
        opt.learning_rate = lr_at(step)
        idx = mx.random.randint(0, xtr.shape[0], (bs,))
        loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
        sd = (eta / (1.0 + step) ** 0.55) ** 0.5
        grads = tree_map(lambda g: g + sd * mx.random.normal(g.shape), grads)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % log_every == 0:
            val_nll = gaussian_nll(model, xva, yva).item()
            print(f"[{tag}] step {step:4d} lr {opt.learning_rate.item():.4f} grad-noise sd {sd:.4f} "
                  f"train nll {loss.item():+.4f} val nll {val_nll:+.4f} val rmse {rmse(model, xva, yva):.4f}")


def main():
    xtr, ytr = make_press_data(N_TRAIN)
    xva, yva = make_press_data(N_VAL)
    base_rmse = mx.sqrt(mx.mean((yva - mx.mean(ytr)) ** 2)).item()
    print(f"baseline (train mean) val rmse {base_rmse:.4f}")

    model = DensityNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.0, momentum=0.9)
    loss_and_grad = nn.value_and_grad(model, gaussian_nll)
    t0 = time.time()

    print("stage 1: warmup from lr 0, strong gradient noise")
    run_stage(model, opt, loss_and_grad, xtr, ytr, xva, yva, 0, 700, eta=0.3, log_every=100, tag="s1")

    ckdir = tempfile.mkdtemp()
    wpath = os.path.join(ckdir, "weights.safetensors")
    opath = os.path.join(ckdir, "opt.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    print(f"checkpoint written at step 700 ({time.time() - t0:.1f}s)")

    model2 = DensityNet()
    model2.load_weights(wpath)
    opt2 = optim.SGD(learning_rate=0.0, momentum=0.9)
    opt2.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model2.parameters(), opt2.state)
    print(f"resumed: val nll {gaussian_nll(model2, xva, yva).item():+.4f} val rmse {rmse(model2, xva, yva):.4f}")
    loss_and_grad2 = nn.value_and_grad(model2, gaussian_nll)

    print("stage 2: continue with weak gradient noise, quiet logging")
    run_stage(model2, opt2, loss_and_grad2, xtr, ytr, xva, yva, 700, 1601, eta=0.02, log_every=300, tag="s2")

    mu, logvar = model2(xva)
    pred_sd = mx.exp(0.5 * logvar)
    moist = xva[:, 2]
    dry = mx.mean(mx.where(moist < -0.5, pred_sd, 0.0)).item() / mx.mean((moist < -0.5).astype(mx.float32)).item()
    wet = mx.mean(mx.where(moist > 0.5, pred_sd, 0.0)).item() / mx.mean((moist > 0.5).astype(mx.float32)).item()
    print(f"final val rmse {rmse(model2, xva, yva):.4f} vs baseline {base_rmse:.4f}")
    print(f"predicted noise sd: dry paper {dry:.3f} (true ~0.08) | damp paper {wet:.3f} (true ~0.16)")
    shutil.rmtree(ckdir)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
