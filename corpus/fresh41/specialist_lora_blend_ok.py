"""Train two LoRA specialists on a frozen base projection, then bake a weighted
blend of both specialists into one standalone weight matrix."""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

D_IN, D_OUT, RANK, SCALE = 24, 24, 4, 2.0
BLEND = {"theory": 0.6, "agentic": 0.4}


class LoRAProj(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, scale: float):
        super().__init__()
        self.base = base
        bound = 1.0 / math.sqrt(D_IN)
        self.lora_a = mx.random.uniform(-bound, bound, (D_IN, rank))
        self.lora_b = mx.zeros((rank, D_OUT))
        self.scale = scale

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def make_task(rng, n=2048):
    u = rng.standard_normal((D_OUT, 2)).astype(np.float32)
    v = rng.standard_normal((2, D_IN)).astype(np.float32)
    shift = 0.35 * (u @ v)
    x = rng.standard_normal((n, D_IN)).astype(np.float32)
    return mx.array(shift), mx.array(x)


def train_specialist(name, base, shift, x, steps=5000):
    model = LoRAProj(base, RANK, SCALE)
    model.freeze()
    model.unfreeze(keys=["lora_a", "lora_b"])
    y = base(x) + x @ shift.T
    opt = optim.Adam(learning_rate=2e-3)

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    step = nn.value_and_grad(model, loss_fn)
    for it in range(steps):
        idx = mx.array(np.random.randint(0, x.shape[0], 256))
        loss, grads = step(model, x[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 1000 == 0 or it == steps - 1:
            print(f"  [{name}] step {it:4d}  mse {loss.item():.5f}")
    return {"lora_a": model.lora_a, "lora_b": model.lora_b}


def fuse(base_w, adapter_files):
    loaded = [(mx.load(p), w) for p, w in adapter_files]
    delta = sum(w * SCALE * (ad["lora_b"].T @ ad["lora_a"].T) for ad, w in loaded)
    return base_w + delta


def main():
    t0 = time.time()
    mx.random.seed(3)
    np.random.seed(3)
    rng = np.random.default_rng(3)
    base = nn.Linear(D_IN, D_OUT)
    base.freeze()
    mx.eval(base.parameters())

    tmp = tempfile.mkdtemp(prefix="specialists_")
    files = []
    truth_delta = mx.zeros((D_OUT, D_IN))
    for name, w in BLEND.items():
        shift, x = make_task(rng)
        print(f"training specialist '{name}' (blend weight {w})")
        ad = train_specialist(name, base, shift, x)
        path = os.path.join(tmp, f"{name}_adapters.safetensors")
        mx.save_safetensors(path, ad)
        files.append((path, w))
        truth_delta = truth_delta + w * SCALE * (ad["lora_b"].T @ ad["lora_a"].T)

    fused_w = fuse(base.weight, files)
    mx.eval(fused_w)

    # check: the standalone weight must behave like running every specialist
    # on the fly with its blend weight
    x_chk = mx.random.normal((512, D_IN))
    ref = x_chk @ (base.weight + truth_delta).T + base.bias
    out = x_chk @ fused_w.T + base.bias
    err = mx.abs(out - ref).max().item()
    rel = (mx.linalg.norm(out - ref) / mx.linalg.norm(ref - (x_chk @ base.weight.T + base.bias))).item()
    print(f"fused vs on-the-fly blend: max|diff| {err:.4f}  rel. error of the adapter shift {rel:.3f}")
    print("blend check:", "OK" if rel < 1e-3 else "MISMATCH")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
