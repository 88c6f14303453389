"""Glacier ablation stakes: daily ice melt (cm) per stake from 6 field readings.

Stake readings are taken to the nearest 0.5 cm, so the model's output goes
through a read-to-gauge function (rounds on the forward pass, passes the
gradient straight through inside the gauge range).  Training runs in two
stages with a linear warm-up from lr=0, saves a checkpoint half-way, reloads
it into fresh objects and resumes.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(7)

STEP_CM = 0.5
GAUGE_MAX = 12.0
NOISE_CM = 0.35


@mx.custom_function
def read_to_gauge(x):
    return mx.clip(mx.round(x / STEP_CM) * STEP_CM, 0.0, GAUGE_MAX)


@read_to_gauge.vjp
def _read_to_gauge_vjp(primals, cotangent, output):
    x = primals
    inside = mx.logical_and(x > -STEP_CM, x < GAUGE_MAX + STEP_CM)
    return cotangent * inside.astype(cotangent.dtype)


def make_stakes(n, key):
    k1, k2 = mx.random.split(key)
    feats = mx.random.normal((n, 6), key=k1)
    temp, sun, albedo, wind, elev, debris = [feats[:, i] for i in range(6)]
    melt = (
        4.0
        + 1.6 * temp
        + 1.1 * sun * (1.0 - 0.4 * mx.tanh(albedo))
        + 0.5 * wind * mx.maximum(temp, 0.0)
        - 0.9 * elev
        - 0.7 * mx.sigmoid(2.0 * debris)
    )
    melt = mx.clip(melt + NOISE_CM * mx.random.normal((n,), key=k2), 0.3, 11.5)
    obs = mx.clip(mx.round(melt / STEP_CM) * STEP_CM, 0.0, GAUGE_MAX)
    return feats, obs


class StakeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1) + 4.0


def loss_fn(model, x, y):
    pred = read_to_gauge(model(x))
    return mx.mean((pred - y) ** 2)


def lr_at(step):
    warm, peak = 40, 3e-3
    if step < warm:
        return peak * step / warm
    if step < 450:
        return peak
    return 6e-4


def run_steps(model, opt, first, last, xtr, ytr, bs, log_every):
    grad_fn = nn.value_and_grad(model, loss_fn)
    n = xtr.shape[0]
    for step in range(first, last):
        idx = mx.random.randint(0, n, (bs,))
        opt.learning_rate = lr_at(step)
        loss, grads = grad_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % log_every == 0 or step in (first, 449, 450):
            print(f"step {step:4d}  lr {lr_at(step):.2e}  batch mse {loss.item():.4f}", flush=True)


def main():
    t0 = time.time()
    kt, kv = mx.random.split(mx.random.key(11))
    xtr, ytr = make_stakes(6000, kt)
    xva, yva = make_stakes(1500, kv)
    mean_base = mx.mean((yva - mx.mean(ytr)) ** 2).item()
    floor = NOISE_CM ** 2 + STEP_CM ** 2 / 12.0
    print(f"stakes train {xtr.shape[0]}  val {xva.shape[0]}  gauge step {STEP_CM} cm")
    print(f"baseline val mse (train mean) {mean_base:.4f}   approx floor {floor:.4f}")

    model = StakeNet()
    opt = optim.Adam(learning_rate=0.0)
    mx.eval(model.parameters())
    print(f"val mse at init {loss_fn(model, xva, yva).item():.4f}")

    run_steps(model, opt, 0, 300, xtr, ytr, 128, 100)
    mid_val = loss_fn(model, xva, yva).item()
    print(f"val mse before checkpoint {mid_val:.4f}")

    ckpt = tempfile.mkdtemp()
    mx.save_safetensors(os.path.join(ckpt, "model.safetensors"), dict(tree_flatten(model.parameters())))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
    print(f"checkpoint written at step 300 to {ckpt}")

    model = StakeNet()
    model.load_weights(os.path.join(ckpt, "model.safetensors"))
    opt = optim.Adam(learning_rate=0.0)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
    mx.eval(model.parameters(), opt.state)
    print(f"resumed: val mse after reload {loss_fn(model, xva, yva).item():.4f}")

    run_steps(model, opt, 300, 900, xtr, ytr, 128, 150)
    final = loss_fn(model, xva, yva).item()
    raw = mx.mean((model(xva) - yva) ** 2).item()
    print(f"final val mse (gauge-read) {final:.4f}  raw {raw:.4f}  baseline {mean_base:.4f}  floor {floor:.4f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
