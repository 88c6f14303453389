"""Letterpress shop: compress 24-patch ink-density strips into 3 discrete press-setting codes
(8 choices each) with a hard Gumbel-softmax autoencoder, straight-through gradients."""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_PATCH, N_GROUPS, N_CODES = 24, 3, 8
NOISE = 0.05  # densitometer noise in the synthetic strips
SIGMA = 0.15  # constant likelihood scale used by the objective


def make_strips(n, key):
    """Each strip comes from 3 hidden settings: ink key (8), roller pressure (8), paper stock (8)."""
    k1, k2, k3, k4 = mx.random.split(key, 4)
    base = mx.random.normal((3, N_CODES, N_PATCH), key=mx.random.key(11)) * 0.35
    z = mx.random.randint(0, N_CODES, (n, 3), key=k1)
    pos = mx.arange(N_PATCH) / N_PATCH
    strip = base[0][z[:, 0]] + base[1][z[:, 1]] * (0.5 + pos) + base[2][z[:, 2]] * mx.cos(3.0 * pos)
    strip = strip + NOISE * mx.random.normal(strip.shape, key=k4)
    return strip, z


class Codec(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(N_PATCH, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, N_GROUPS * N_CODES))
        self.dec = nn.Sequential(nn.Linear(N_GROUPS * N_CODES, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                                 nn.SiLU(), nn.Linear(hidden, N_PATCH))

    def logits(self, x):
        return self.enc(x).reshape(-1, N_GROUPS, N_CODES)

    def __call__(self, x, tau, key):
        lg = self.logits(x)
        g = mx.random.gumbel(lg.shape, key=key)
        soft = mx.softmax((lg + g) / tau, axis=-1)
        hard = (soft == soft.max(axis=-1, keepdims=True)).astype(soft.dtype)
        code = soft + mx.stop_gradient(hard - soft)
        return self.dec(code.reshape(-1, N_GROUPS * N_CODES)), lg

    def decode_argmax(self, x):
        lg = self.logits(x)
        onehot = (lg == lg.max(axis=-1, keepdims=True)).astype(lg.dtype)
        return self.dec(onehot.reshape(-1, N_GROUPS * N_CODES)), lg


def objective(model, x, tau, key, beta):
    recon, lg = model(x, tau, key)
    # Gaussian NLL per strip with a constant likelihood scale
    nll = (0.5 * ((recon - x) / SIGMA) ** 2 + math.log(SIGMA * math.sqrt(2 * math.pi))).sum(-1).mean()
    logq = lg - mx.logsumexp(lg, axis=-1, keepdims=True)
    kl = (mx.exp(logq) * (logq + math.log(N_CODES))).sum(-1).sum(-1).mean()
    return nll + beta * kl, (nll, kl)


def lr_at(step, total, peak=2e-3, warm=150):
    if step < warm:
        return peak * step / warm  # step 0 -> exactly 0
    p = (step - warm) / max(1, total - warm)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


def tau_at(step):
    # three stages: warm (2.0), anneal to 0.5, hold
    if step < 200:
        return 2.0
    if step < 600:
        return 2.0 * (0.25 ** ((step - 200) / 400))
    return 0.5


def evaluate(model, x):
    recon, lg = model.decode_argmax(x)
    mse = ((recon - x) ** 2).mean().item()
    idx = lg.argmax(-1)
    usage = []
    for gi in range(N_GROUPS):
        counts = mx.array([(idx[:, gi] == c).sum().item() for c in range(N_CODES)], dtype=mx.float32)
        p = counts / counts.sum()
        usage.append(math.exp(-(p * mx.log(mx.maximum(p, 1e-12))).sum().item()))
    return mse, usage


def main():
    t0 = time.time()
    mx.random.seed(3)
    x_tr, _ = make_strips(6000, mx.random.key(1))
    x_va, _ = make_strips(1000, mx.random.key(2))
    mean_mse = ((x_va - x_tr.mean(0)) ** 2).mean().item()
    print(f"baseline mean-strip mse {mean_mse:.4f} | noise floor mse {NOISE ** 2:.4f}")

    total, bs, ckpt_at = 900, 128, 450
    model = Codec()
    opt = optim.Adam(learning_rate=0.0)
    step_fn = nn.value_and_grad(model, objective)
    ckdir = os.path.join(tempfile.gettempdir(), f"inkstrip_ckpt_{os.getpid()}")
    os.makedirs(ckdir, exist_ok=True)
    key = mx.random.key(99)
    step = 0
    while step < total:
        if step == ckpt_at:
            model.save_weights(os.path.join(ckdir, "codec.safetensors"))
            mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
            print(f"step {step}: checkpoint written, reloading into a fresh process-like state")
            model = Codec()
            model.load_weights(os.path.join(ckdir, "codec.safetensors"))
            opt = optim.Adam(learning_rate=0.0)
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
            step_fn = nn.value_and_grad(model, objective)
            mse, _ = evaluate(model, x_va)
            print(f"step {step}: resumed, val mse {mse:.4f}")
        key, kb, kg = mx.random.split(key, 3)
        idx = mx.random.randint(0, x_tr.shape[0], (bs,), key=kb)
        tau = tau_at(step)
        opt.learning_rate = lr_at(step, total)
        beta = min(1.0, step / 300)
        (loss, (nll, kl)), grads = step_fn(model, x_tr[idx], tau, kg, beta)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 150 == 0 or step == total - 1:
            mse, usage = evaluate(model, x_va)
            print(f"step {step:4d} lr {lr_at(step, total):.2e} tau {tau:.2f} loss {loss.item():9.2f} "
                  f"nll {nll.item():9.2f} kl {kl.item():.3f} | val mse {mse:.4f} (mean-strip {mean_mse:.4f}) "
                  f"code ppl {' '.join(f'{u:.1f}' for u in usage)}")
        step += 1
    mse, usage = evaluate(model, x_va)
    print(f"final val mse {mse:.4f} vs mean-strip {mean_mse:.4f} ({mse / mean_mse:.1%}), "
          f"code ppl {[round(u, 1) for u in usage]}, {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
