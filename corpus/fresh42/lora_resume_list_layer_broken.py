# LoRA fine-tune of a tiny attention regressor, with an interruption + resume.
# Phase 1 trains LoRA adapters and saves them; phase 2 rebuilds the frozen base
# model, reloads the adapters from the file, and keeps training.
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

D, T, BLOCKS = 32, 8, 2


class Attention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.to_q = nn.Linear(d, d, bias=False)
        self.to_k = nn.Linear(d, d, bias=False)
        self.to_v = nn.Linear(d, d, bias=False)
        self.to_out = [nn.Linear(d, d)]          # diffusers-style: a list, like ModuleList([Linear, Dropout])

    def __call__(self, x):
        q, k, v = self.to_q(x), self.to_k(x), self.to_v(x)
        w = mx.softmax(q @ k.transpose(0, 2, 1) / D ** 0.5, axis=-1)
        return self.to_out[0](w @ v)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.attn = Attention(d)

    def __call__(self, x):
        return x + self.attn(self.norm(x))


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = [Block(D) for _ in range(BLOCKS)]
        self.head = nn.Linear(D, 1)

    def __call__(self, x):
        for b in self.blocks:
            x = b(x)
        return self.head(x).squeeze(-1)


class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear, r=4, scale=2.0):
        out_d, in_d = linear.weight.shape
        lora = LoRALinear(in_d, out_d, r, scale)
        lora.linear = linear
        return lora

    def __init__(self, in_d, out_d, r, scale):
        super().__init__()
        self.scale = scale
        self.lora_A = mx.random.normal((in_d, r)) * (1.0 / in_d ** 0.5)
        self.lora_B = mx.zeros((r, out_d))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_A) @ self.lora_B)


def base_model():
    mx.random.seed(0)               # same frozen base weights every time
    m = Regressor()
    mx.eval(m.parameters())
    m.freeze()
    return m


def add_lora(model):
    for b in model.blocks:
        b.attn.to_q = LoRALinear.from_linear(b.attn.to_q)
        b.attn.to_v = LoRALinear.from_linear(b.attn.to_v)
        b.attn.to_out = [LoRALinear.from_linear(b.attn.to_out[0])]
    for b in model.blocks:          # only the adapters train
        for lyr in (b.attn.to_q, b.attn.to_v, b.attn.to_out[0]):
            lyr.linear.freeze()


def load_adapters(model, path):
    weights = mx.load(path)
    bases = sorted({k.rsplit(".", 1)[0] for k in weights})
    for base_path in bases:
        parts = base_path.split(".")          # blocks.<i>.attn.<name>[.0]
        module = model.blocks[int(parts[1])].attn
        attr_name = parts[3]
        original_layer = getattr(module, attr_name)
        lora_layer = LoRALinear.from_linear(original_layer)
        lora_layer.lora_A = weights[f"{base_path}.lora_A"]
        lora_layer.lora_B = weights[f"{base_path}.lora_B"]
        lora_layer.linear.freeze()
        setattr(module, attr_name, lora_layer)


# teacher = base model with a low-rank change in its attention maps
rs = np.random.RandomState(5)
teacher = base_model()
for b in teacher.blocks:
    for name in ("to_q", "to_v"):
        lin = getattr(b.attn, name)
        u = mx.array(rs.randn(D, 2).astype(np.float32) * 0.8)
        v = mx.array(rs.randn(2, D).astype(np.float32) * 0.8)
        lin.weight = lin.weight + u @ v
mx.eval(teacher.parameters())


def batch(n=64):
    x = mx.array(rs.randn(n, T, D).astype(np.float32))
    return x, mx.stop_gradient(teacher(x))


def loss_fn(model, x, y):
    return mx.mean(mx.square(model(x) - y))


def train(model, steps, phase, t0):
    opt = optim.Adam(learning_rate=3e-3)
    vg = nn.value_and_grad(model, loss_fn)
    x_val, y_val = batch(512)
    for s in range(1, steps + 1):
        x, y = batch()
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if s % 50 == 0:
            print(json.dumps({"phase": phase, "step": s, "train_mse": round(loss.item(), 5),
                              "val_mse": round(loss_fn(model, x_val, y_val).item(), 5),
                              "t": round(time.time() - t0, 1)}))


t0 = time.time()
workdir = tempfile.mkdtemp()
ckpt = os.path.join(workdir, "adapters.safetensors")

model = base_model()
add_lora(model)
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(json.dumps({"event": "start", "trainable_params": int(n_train)}))
train(model, 300, "initial", t0)
mx.save_safetensors(ckpt, dict(tree_flatten(model.trainable_parameters())))
print(json.dumps({"event": "interrupted", "saved": sorted(dict(tree_flatten(model.trainable_parameters())))[:3]}))

# ---- resume in a fresh process-like state ----
model = base_model()
load_adapters(model, ckpt)
print(json.dumps({"event": "resumed", "trainable_params": int(sum(v.size for _, v in tree_flatten(model.trainable_parameters())))}))
train(model, 300, "resumed", t0)
print(json.dumps({"event": "done", "wall_s": round(time.time() - t0, 1)}))
