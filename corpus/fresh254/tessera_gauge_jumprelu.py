"""JumpReLU sparse autoencoder on synthetic residual-stream activations.

Per-latent thresholds are learned through a straight-through estimator with a
rectangle kernel; the sparsity term is an L0 count whose coefficient ramps up
from exactly 0.  The run stops half way, writes a checkpoint, rebuilds the SAE
and the optimizer from disk and carries on.  A PCA reconstruction with the same
number of active directions is printed beside each report as a reference.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

D_MODEL, N_ATOMS, N_LATENTS = 16, 24, 48
STEPS, HALF, BATCH = 2000, 1000, 256
PEAK_LR, WARMUP = 3e-3, 100
L0_MAX, L0_RAMP = 0.08, 800
EPS = 0.05

rng = np.random.default_rng(11)
mx.random.seed(11)
atoms = rng.normal(size=(N_ATOMS, D_MODEL))
atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
offset = rng.normal(size=(D_MODEL,)) * 0.8


def sample(n):
    active = rng.random((n, N_ATOMS)) < 0.07
    mags = rng.uniform(0.5, 1.5, size=(n, N_ATOMS))
    x = (active * mags) @ atoms + offset + 0.03 * rng.normal(size=(n, D_MODEL))
    return mx.array(x.astype(np.float32))


def rect(u):
    return (mx.abs(u) < 0.5).astype(u.dtype)


@mx.custom_function
def jump(pre, theta):
    return pre * (pre > theta).astype(pre.dtype)


@jump.vjp
def jump_vjp(primals, cotangent, output):
    pre, theta = primals
    gate = (pre > theta).astype(pre.dtype)
    d_theta = -(theta / EPS) * rect((pre - theta) / EPS) * cotangent
    return gate * cotangent, d_theta.sum(axis=0)


@mx.custom_function
def step_count(pre, theta):
    return (pre > theta).astype(pre.dtype)


@step_count.vjp
def step_count_vjp(primals, cotangent, output):
    pre, theta = primals
    d_theta = -(1.0 / EPS) * rect((pre - theta) / EPS) * cotangent
    return mx.zeros_like(pre), d_theta.sum(axis=0)


class JumpSAE(nn.Module):
    def __init__(self, init_bias):
        super().__init__()
        w = mx.random.normal((N_LATENTS, D_MODEL))
        w = w / mx.linalg.norm(w, axis=1, keepdims=True) * 0.4
        self.W_dec = w
        self.W_enc = w.T
        self.b_enc = mx.zeros((N_LATENTS,))
        self.b_dec = init_bias
        self.log_theta = mx.full((N_LATENTS,), np.log(0.05), dtype=mx.float32)

    def pre(self, x):
        return (x - self.b_dec) @ self.W_enc + self.b_enc

    def __call__(self, x):
        p = self.pre(x)
        theta = mx.exp(self.log_theta)
        f = jump(p, theta)
        return f @ self.W_dec + self.b_dec, p, theta, f


def objective(model, x, l0_coef):
    x_hat, p, theta, _ = model(x)
    recon = ((x_hat - x) ** 2).sum(axis=-1).mean()
    l0 = step_count(p, theta).sum(axis=-1).mean()
    return recon + l0_coef * l0, (recon, l0)


def lr_at(t):
    if t <= WARMUP:
        return PEAK_LR * (t - 1) / WARMUP
    prog = (t - WARMUP) / (STEPS - WARMUP)
    return 0.1 * PEAK_LR + 0.9 * PEAK_LR * 0.5 * (1 + np.cos(np.pi * prog))


def l0_coef_at(t):
    return L0_MAX * min(1.0, (t - 1) / L0_RAMP)


eval_x = sample(2048)
eval_np = np.array(eval_x)
mean_np = eval_np.mean(0)
_, svals, vt = np.linalg.svd(eval_np - mean_np, full_matrices=False)
total_var = ((eval_np - mean_np) ** 2).sum()


def pca_fvu(k):
    k = int(max(1, min(D_MODEL, round(k))))
    c = (eval_np - mean_np) @ vt[:k].T
    r = c @ vt[:k] + mean_np
    return float(((eval_np - r) ** 2).sum() / total_var)


def report(model, t, lr, l0_coef, batch_obj, fired):
    x_hat, p, theta, f = model(eval_x)
    fvu = (((x_hat - eval_x) ** 2).sum() / total_var).item()
    l0 = (f != 0).astype(mx.float32).sum(axis=-1).mean().item()
    dead = float((fired == 0).mean())
    dec = np.array(model.W_dec)
    dec /= np.linalg.norm(dec, axis=1, keepdims=True) + 1e-8
    recovered = int((np.abs(atoms @ dec.T).max(axis=1) > 0.9).sum())
    print("---")
    print(f"step: {t}")
    print(f"lr: {lr:.6f}")
    print(f"l0_coef: {l0_coef:.5f}")
    print(f"batch_objective: {batch_obj:.4f}")
    print(f"fvu: {fvu:.4f}  # pca_same_width: {pca_fvu(l0):.4f}")
    print(f"l0_per_token: {l0:.2f}")
    print(f"theta_median: {float(np.median(np.array(theta))):.3f}")
    print(f"dead_latents: {dead:.3f}")
    print(f"atoms_recovered: {recovered}/{N_ATOMS}")
    return fvu


def train(model, opt, first, last, fired):
    grad_fn = nn.value_and_grad(model, objective)
    batch_obj = float("nan")
    for t in range(first, last + 1):
        lr = lr_at(t)
        opt.learning_rate = lr
        coef = l0_coef_at(t)
        x = sample(BATCH)
        (loss, (recon, l0)), grads = grad_fn(model, x, coef)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        batch_obj = loss.item()
        hit = (model.pre(x) > mx.exp(model.log_theta)).any(axis=0)
        fired = np.maximum(fired, np.array(hit).astype(np.int32))
        if t % 200 == 0:
            fvu = report(model, t, lr, coef, batch_obj, fired)
            fired = np.zeros(N_LATENTS, dtype=np.int32)
    return fvu


start = time.time()
print("# jumprelu-sae")
print(f"# d_model={D_MODEL} latents={N_LATENTS} true_atoms={N_ATOMS} steps={STEPS}")
model = JumpSAE(mx.array(mean_np))
opt = optim.Adam(learning_rate=0.0)
mx.eval(model.parameters())
fired = np.zeros(N_LATENTS, dtype=np.int32)
train(model, opt, 1, HALF, fired)

ckpt_dir = tempfile.mkdtemp()
w_path = os.path.join(ckpt_dir, "sae.safetensors")
o_path = os.path.join(ckpt_dir, "opt.safetensors")
model.save_weights(w_path)
mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
print(f"# checkpoint written at step {HALF}")
del model, opt

model = JumpSAE(mx.zeros((D_MODEL,)))
model.load_weights(w_path)
opt = optim.Adam(learning_rate=0.0)
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(o_path).items()))
mx.eval(model.parameters(), opt.state)
print(f"# resumed from checkpoint, optimizer step counter {int(opt.state['step'].item())}")
final_fvu = train(model, opt, HALF + 1, STEPS, np.zeros(N_LATENTS, dtype=np.int32))
print("...")
print(f"# final fvu {final_fvu:.4f}, wall {time.time() - start:.1f}s")
