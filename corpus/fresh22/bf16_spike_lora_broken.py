# LoRA fine-tune of a small frozen bf16 "denoiser" block on cached latents.
# Velocity-prediction (flow matching) objective, AdamW on the adapters only.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
DIM, HID, RANK = 32, 96, 4
STEPS, BATCH = 320, 16
N_LAT = 512


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float = 8.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.base = base
        self.scale = alpha / rank
        self.lora_a = mx.random.normal((in_d, rank), scale=1.0 / math.sqrt(in_d)).astype(mx.bfloat16)
        self.lora_b = mx.zeros((rank, out_d), dtype=mx.bfloat16)

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(DIM + 1, HID)
        self.mid = nn.Linear(HID, HID)
        self.out = nn.Linear(HID, DIM)

    def __call__(self, x, t):
        h = mx.concatenate([x, t[:, None].astype(x.dtype)], axis=-1)
        h = nn.silu(self.inp(h))
        h = nn.silu(self.mid(h))
        return self.out(h)


model = Block()
model.set_dtype(mx.bfloat16)
model.freeze()
model.inp = LoRALinear(model.inp, RANK)
model.mid = LoRALinear(model.mid, RANK)
model.out = LoRALinear(model.out, RANK)
model.inp.base.freeze(); model.mid.base.freeze(); model.out.base.freeze()
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"trainable params: {n_train}")

# "dataset": cached VAE latents of 512 images drawn around 4 modes
modes = mx.random.normal((4, DIM)) * 1.5
ids = mx.random.randint(0, 4, (N_LAT,))
latents = (modes[ids] + 0.3 * mx.random.normal((N_LAT, DIM))).astype(mx.bfloat16)
# one cached latent came out of the encoder with a blown-up activation
latents[134] = latents[134] * 3.0e30
mx.eval(latents)


def loss_fn(model, x1, x0, t):
    xt = (1 - t[:, None]) * x0 + t[:, None] * x1
    v = model(xt.astype(mx.bfloat16), t)
    return mx.mean(mx.square(v - (x1 - x0).astype(mx.bfloat16)))


opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.0)
step_fn = nn.value_and_grad(model, loss_fn)

order = []
tic = time.time()
running = None
for step in range(1, STEPS + 1):
    if not order:
        order = mx.random.permutation(N_LAT).tolist()
    idx = mx.array([order.pop() for _ in range(min(BATCH, len(order)))])
    x1 = latents[idx].astype(mx.float32)
    x0 = mx.random.normal(x1.shape)
    t = mx.random.uniform(shape=(x1.shape[0],))
    loss, grads = step_fn(model, x1, x0, t)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    lv = loss.item()
    running = lv if running is None else 0.9 * running + 0.1 * lv
    if step % 20 == 0:
        el = time.time() - tic
        bar = "#" * (step * 30 // STEPS)
        print(f"train |{bar:<30}| {step}/{STEPS} [{el:5.1f}s] loss={lv:.4f} avg={running:.4f}", flush=True)

print("done; saved adapters (final avg loss %.4f)" % running)
