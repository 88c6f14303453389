"""LoRA fine-tune of a tiny DiT-style audio-latent denoiser (ACE-Step-like) on synthetic latents."""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)

LATENT, HIDDEN, N_BLOCKS, RANK, ALPHA = 16, 64, 3, 8, 16.0


class LoRALinear(nn.Module):
    def __init__(self, original_layer, rank, alpha):
        super().__init__()
        out_f, in_f = original_layer.weight.shape
        self.weight = original_layer.weight
        self.bias = original_layer.bias if "bias" in original_layer else None
        self.scaling = alpha / rank
        self.lora_A = mx.random.normal(shape=(rank, in_f)) * (1.0 / rank ** 0.5)
        self.lora_B = mx.zeros((out_f, rank))

    def __call__(self, x):
        y = x @ self.weight.T
        if self.bias is not None:
            y = y + self.bias
        return y + self.scaling * ((x @ self.lora_A.T) @ self.lora_B.T)


class Attention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.to_q = nn.Linear(d, d)
        self.to_k = nn.Linear(d, d)
        self.to_v = nn.Linear(d, d)
        self.to_out = [nn.Linear(d, d), nn.Dropout(0.0)]

    def __call__(self, x):
        q, k, v = self.to_q(x), self.to_k(x), self.to_v(x)
        a = mx.softmax(q @ k.transpose(0, 2, 1) / math.sqrt(x.shape[-1]), axis=-1)
        h = a @ v
        for m in self.to_out:
            h = m(h)
        return h


class DiTBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm1 = nn.LayerNorm(d)
        self.attn = Attention(d)
        self.norm2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def __call__(self, x, t_emb):
        x = x + self.attn(self.norm1(x + t_emb))
        return x + self.ff(self.norm2(x))


class TinyDiT(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj_in = nn.Linear(LATENT, HIDDEN)
        self.t_mlp = nn.Linear(1, HIDDEN)
        self.transformer_blocks = [DiTBlock(HIDDEN) for _ in range(N_BLOCKS)]
        self.proj_out = nn.Linear(HIDDEN, LATENT)

    def __call__(self, x, t):
        t_emb = self.t_mlp(t[:, None, None] * mx.ones((1, 1, 1)))
        h = self.proj_in(x)
        for blk in self.transformer_blocks:
            h = blk(h, t_emb)
        return self.proj_out(h)


def replace_linear_with_lora(module, target_names, rank, alpha, _visited=None):
    if _visited is None:
        _visited = set()
    if id(module) in _visited:
        return 0
    _visited.add(id(module))
    replaced = 0
    for name, child in list(module.children().items()):
        if child is None:
            continue
        if isinstance(child, list):
            for i, item in enumerate(child):
                if isinstance(item, nn.Linear) and not isinstance(item, LoRALinear) and name in target_names:
                    child[i] = LoRALinear(item, rank, alpha)
                    replaced += 1
        elif isinstance(child, nn.Linear) and not isinstance(child, LoRALinear) and name in target_names:
            setattr(module, name, LoRALinear(child, rank, alpha))
            replaced += 1
        elif isinstance(child, nn.Module) and not isinstance(child, LoRALinear):
            replaced += replace_linear_with_lora(child, target_names, rank, alpha, _visited)
    return replaced


# "pretrained" base model and a "style" teacher that differs in its attention
base = TinyDiT()
teacher = TinyDiT()
teacher.update(base.parameters())
for blk in teacher.transformer_blocks:
    for lin in (blk.attn.to_q, blk.attn.to_v, blk.attn.to_out[0]):
        lin.weight = lin.weight + 0.25 * mx.random.normal(lin.weight.shape) / math.sqrt(HIDDEN)
mx.eval(base.parameters(), teacher.parameters())

# synthetic "song latents": mixtures of a few sinusoidal motifs
def make_batch(n, seq=12):
    phase = mx.random.uniform(0, 2 * math.pi, (n, 1, 1))
    freq = mx.random.randint(1, 4, (n, 1, 1)).astype(mx.float32)
    pos = mx.arange(seq, dtype=mx.float32)[None, :, None]
    ch = mx.arange(LATENT, dtype=mx.float32)[None, None, :]
    x0 = mx.sin(freq * pos * 0.5 + phase + 0.3 * ch)
    t = mx.random.uniform(0.0, 1.0, (n,))
    noise = mx.random.normal(x0.shape)
    xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * noise
    return xt, t

n_lora = replace_linear_with_lora(base, {"to_q", "to_k", "to_v", "to_out"}, RANK, ALPHA)
base.freeze()
base.unfreeze(keys=["lora_A", "lora_B"], strict=False)
n_train = sum(v.size for _, v in tree_flatten(base.trainable_parameters()))
print(f"[lora] wrapped linears: {n_lora}   trainable params: {n_train}")

opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)


def loss_fn(model, xt, t):
    target = teacher(xt, t)
    return nn.losses.mse_loss(model(xt, t), target)


loss_and_grad = nn.value_and_grad(base, loss_fn)
xv, tv = make_batch(64)
print(f"step    0 | val_mse {loss_fn(base, xv, tv).item():.5f}")
t0 = time.time()
for step in range(1, 121):
    xt, t = make_batch(32)
    loss, grads = loss_and_grad(base, xt, t)
    opt.update(base, grads)
    mx.eval(base.parameters(), opt.state, loss)
    if step % 15 == 0:
        val = loss_fn(base, xv, tv).item()
        print(f"step {step:4d} | train_mse {loss.item():.5f} | val_mse {val:.5f} | {time.time() - t0:5.1f}s")

final = loss_fn(base, xv, tv).item()
print(f"done: val_mse {final:.5f}")
