# LoRA fine-tune of a small "pretrained" ViT-style block kept in float16 (as on M1/M2 without bf16).
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(0)
mx.random.seed(0)
PATCH, DIM, HID, NCLS, NPATCH = 48, 64, 256, 4, 16


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank=8, alpha=16.0):
        super().__init__()
        self.base = base
        out_d, in_d = base.weight.shape
        self.lora_a = mx.random.normal((in_d, rank)) / math.sqrt(in_d)  # adapters stay fp32
        self.lora_b = mx.zeros((rank, out_d))
        self.scale = alpha / rank

    def __call__(self, x):
        y = self.base(x)
        return y + (self.scale * ((x @ self.lora_a) @ self.lora_b)).astype(y.dtype)


class VisionBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch_embed = nn.Linear(PATCH, DIM)
        self.norm2 = nn.LayerNorm(DIM)
        self.linear_fc1 = nn.Linear(DIM, HID)
        self.linear_fc2 = nn.Linear(HID, DIM)

    def mlp(self, x):
        return self.linear_fc2(nn.gelu(self.linear_fc1(x)))

    def __call__(self, patches):
        x = self.patch_embed(patches)
        residual_dtype = x.dtype
        h = self.norm2(x)
        if residual_dtype == mx.float16:
            h = h.astype(mx.float32)  # run the whole MLP in fp32, cast back at the residual add
        x = x + self.mlp(h).astype(residual_dtype)
        return x


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = VisionBlock()
        self.head = nn.Linear(DIM, NCLS)

    def __call__(self, patches):
        return self.head(self.block(patches).mean(axis=1))


model = Classifier()
# "pretrained" statistics: the LayerNorm carries a positive bias and a few fc1 units are
# massive-activation channels (large aligned weights), with tiny matching fc2 columns
model.block.norm2.bias = mx.full((DIM,), 3.0)
w1 = np.array(model.block.linear_fc1.weight)
w1[:4] = 400.0
model.block.linear_fc1.weight = mx.array(w1)
w2 = np.array(model.block.linear_fc2.weight)
w2[:, :4] = 2e-5
model.block.linear_fc2.weight = mx.array(w2)
model.set_dtype(mx.float16)
model.freeze()
model.block.linear_fc1 = LoRALinear(model.block.linear_fc1, alpha=2.0)
model.block.linear_fc2 = LoRALinear(model.block.linear_fc2, alpha=2.0)
model.head = nn.Linear(DIM, NCLS)  # fresh fp32 task head
mx.eval(model.parameters())

templates = rng.normal(size=(NCLS, PATCH)) * 0.5


def make_batch(n):
    y = rng.integers(0, NCLS, size=n)
    x = rng.normal(size=(n, NPATCH, PATCH)) + templates[y][:, None, :]
    return mx.array(x, dtype=mx.float16), mx.array(y)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x).astype(mx.float32), y, reduction="mean")


opt = optim.Adam(learning_rate=1e-3)
loss_and_grad = nn.value_and_grad(model, loss_fn)
xv, yv = make_batch(512)
t0 = time.time()
for step in range(1, 301):
    x, y = make_batch(64)
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    mx.eval(model.trainable_parameters(), opt.state, loss)
    if step == 1 or step % 25 == 0:
        acc = (mx.argmax(model(xv), axis=1) == yv).mean().item()
        print(json.dumps({"step": step, "loss": round(loss.item(), 4), "val_acc": round(acc, 3),
                          "sec": round(time.time() - t0, 1)}))
