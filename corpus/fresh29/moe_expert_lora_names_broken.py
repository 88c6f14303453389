"""LoRA fine-tuning of a small Mixtral-style MoE classifier (router + 4 SwiGLU
experts with w1/w2/w3 projections). The base model is frozen; LoRA adapters
are added to the expert MLPs and trained with AdamW + cosine decay."""
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

np.random.seed(0)
mx.random.seed(0)
D, HID, NE, NCLS = 32, 64, 4, 6


class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear, r=8, lora_alpha=16):
        out_dims, in_dims = linear.weight.shape
        lora = LoRALinear(in_dims, out_dims, r, lora_alpha)
        lora.linear = linear
        return lora

    def __init__(self, in_dims, out_dims, r=8, lora_alpha=16):
        super().__init__()
        self.linear = nn.Linear(in_dims, out_dims, bias=False)
        self.scale = lora_alpha / r
        b = 1 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-b, b, (in_dims, r))
        self.lora_b = mx.zeros((r, out_dims))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Expert(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1 = nn.Linear(D, HID, bias=False)
        self.w2 = nn.Linear(HID, D, bias=False)
        self.w3 = nn.Linear(D, HID, bias=False)

    def __call__(self, x):
        return self.w2(nn.silu(self.w1(x)) * self.w3(x))


class SparseMoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(D, NE, bias=False)
        self.experts = [Expert() for _ in range(NE)]

    def __call__(self, x):
        probs = mx.softmax(self.gate(x), axis=-1)                  # B, NE
        top2 = mx.argsort(-probs, axis=-1)[:, :2]
        w = mx.take_along_axis(probs, top2, axis=-1)
        w = w / w.sum(-1, keepdims=True)
        outs = mx.stack([e(x) for e in self.experts], axis=1)       # B, NE, D
        sel = mx.take_along_axis(outs, top2[..., None], axis=1)     # B, 2, D
        return (w[..., None] * sel).sum(1)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(16, D)
        self.norm = nn.RMSNorm(D)
        self.moe = SparseMoE()
        self.head = nn.Linear(D, NCLS)

    def __call__(self, x):
        h = self.embed(x)
        h = h + self.moe(self.norm(h))
        return self.head(h)


# synthetic task: labels from a fixed random nonlinear teacher
Wt1 = np.random.randn(16, 48).astype(np.float32)
Wt2 = np.random.randn(48, NCLS).astype(np.float32)


def make(n):
    x = np.random.randn(n, 16).astype(np.float32)
    y = np.argmax(np.tanh(x @ Wt1) @ Wt2, axis=1)
    return mx.array(x), mx.array(y)


Xtr, ytr = make(4000)
Xva, yva = make(1000)

model = Model()
mx.eval(model.parameters())
model.freeze()
for e in model.moe.experts:
    e.gate_proj = LoRALinear.from_linear(e.w1, r=8, lora_alpha=16)
    e.down_proj = LoRALinear.from_linear(e.w2, r=8, lora_alpha=16)
    e.up_proj = LoRALinear.from_linear(e.w3, r=8, lora_alpha=16)

p = sum(v.size for _, v in tree_flatten(model.parameters())) / 10**3
print(f"Total parameters {p:.3f}K")
p = sum(v.size for _, v in tree_flatten(model.trainable_parameters())) / 10**3
print(f"Trainable parameters {p:.3f}K")

ITERS, BS = 600, 64
opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, ITERS), weight_decay=0.0)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
model.train()
t0, run = time.time(), []
for it in range(1, ITERS + 1):
    idx = mx.array(np.random.randint(0, 4000, BS))
    loss, g = vg(model, Xtr[idx], ytr[idx])
    opt.update(model, g)
    mx.eval(model.trainable_parameters(), opt.state, loss)
    run.append(loss.item())
    if it % 50 == 0:
        val = loss_fn(model, Xva, yva).item()
        acc = (mx.argmax(model(Xva), axis=1) == yva).mean().item()
        print(f"Iter {it}: Train loss {np.mean(run):.3f}, Val loss {val:.3f}, Val acc {acc:.3f}, "
              f"Learning Rate {opt.learning_rate.item():.3e}, It/sec {it/(time.time()-t0):.1f}")
        run = []
