"""Ternary (BitNet b1.58 style) quantization-aware training of a tiny
character model on synthetic kiln firing logs, then a ternary export summary."""

import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as opt
import numpy as np


# ---------------------------------------------------------------------------
# BitLinear layer (weights re-quantized every forward pass, STE backward)
# ---------------------------------------------------------------------------


@partial(mx.compile, shapeless=True)
def activation_quant(x):
    scale = 127.0 / mx.clip(mx.abs(x).max(axis=-1, keepdims=True), 1e-5, None)
    return mx.clip(mx.round(x * scale), -128, 127) / scale


@partial(mx.compile, shapeless=True)
def weight_quant(w):
    scale = mx.abs(w).mean()
    shifted = w - w.mean()
    return mx.sign(shifted) * scale


@partial(mx.compile, shapeless=True)
def _quantize_ste(full, quantized):
    return full + mx.stop_gradient(quantized - full)


class BitLinear(nn.Module):
    def __init__(self, input_dims, output_dims, bias=True, norm_eps=1e-6):
        super().__init__()
        scale = (1.0 / input_dims) ** 0.5
        self.weight = mx.random.uniform(low=-scale, high=scale, shape=(output_dims, input_dims))
        if bias:
            self.bias = mx.zeros((output_dims,))
        self.norm = nn.RMSNorm(input_dims, eps=norm_eps)

    def __call__(self, x):
        w = self["weight"]
        x_norm = self.norm(x)
        x_quant = _quantize_ste(x_norm, activation_quant(x_norm))
        w_quant = _quantize_ste(w, weight_quant(w))
        if "bias" in self:
            return mx.addmm(self["bias"], x_quant, w_quant.T)
        return x_quant @ w_quant.T


# ---------------------------------------------------------------------------
# 1.  Model surgery: nn.Linear -> BitLinear
# ---------------------------------------------------------------------------


def replace_linear_with_bitlinear(model: nn.Module):
    def _build_path(path: str, new_module: nn.Module) -> dict:
        parts = path.split(".")
        d = {}
        current = d
        for p in parts[:-1]:
            current[p] = {}
            current = current[p]
        current[parts[-1]] = new_module
        return d

    def _merge(base: dict, update: dict):
        for k, v in update.items():
            if k in base and isinstance(base[k], dict) and isinstance(v, dict):
                _merge(base[k], v)
            else:
                base[k] = v

    replacements = {}
    for path, m in model.named_modules():
        if isinstance(m, nn.Linear) and path:
            bl = BitLinear(
                input_dims=m.weight.shape[1],
                output_dims=m.weight.shape[0],
                bias="bias" in m,
            )
            bl.weight = m.weight
            if "bias" in m:
                bl.bias = m.bias
            _merge(replacements, _build_path(path, bl))

    model.update_modules(replacements)
    return model


# ---------------------------------------------------------------------------
# 2.  Tiny causal LM
# ---------------------------------------------------------------------------


class Block(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dims)
        self.attn = nn.MultiHeadAttention(dims, heads)
        self.ln2 = nn.LayerNorm(dims)
        self.fc1 = nn.Linear(dims, 2 * dims)
        self.fc2 = nn.Linear(2 * dims, dims)

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.fc2(nn.gelu(self.fc1(self.ln2(x))))


class TinyLM(nn.Module):
    def __init__(self, vocab, dims=32, heads=4, n_layers=2, ctx=24):
        super().__init__()
        self.embed = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(ctx, dims)
        self.layers = [Block(dims, heads) for _ in range(n_layers)]
        self.ln_f = nn.LayerNorm(dims)
        self.head = nn.Linear(dims, vocab)

    def __call__(self, x):
        T = x.shape[1]
        h = self.embed(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for blk in self.layers:
            h = blk(h, mask)
        return self.head(self.ln_f(h))


# ---------------------------------------------------------------------------
# 3.  Synthetic kiln logs
# ---------------------------------------------------------------------------

STAGES = ["dry", "ramp", "soak", "cool"]


def make_log(rng):
    t = int(rng.integers(1, 9))
    parts = []
    for s in STAGES:
        t = min(9, max(0, t + int(rng.integers(-1, 3))))
        parts.append(f"{s}{t}")
    return " ".join(parts) + ";"


def encode(texts, stoi, ctx):
    arr = np.zeros((len(texts), ctx), dtype=np.int32)
    for i, t in enumerate(texts):
        ids = [stoi[c] for c in t][:ctx]
        arr[i, : len(ids)] = ids
    return mx.array(arr)


def ce_loss(logits, targets):
    return nn.losses.cross_entropy(logits, targets, reduction="mean")


def train_step(model, inputs, targets, optimizer):
    def loss_fn(params):
        model.update(params)
        return ce_loss(model(inputs), targets)

    loss, grads = (
        loss_fn(model.trainable_parameters()),
        mx.grad(loss_fn)(model.trainable_parameters()),
    )
    optimizer.update(model, grads)
    return loss


def main():
    mx.random.seed(42)
    rng = np.random.default_rng(42)
    train_txt = [make_log(rng) for _ in range(640)]
    val_txt = [make_log(rng) for _ in range(128)]
    chars = sorted(set("".join(train_txt + val_txt)) | {"#"})
    stoi = {c: i for i, c in enumerate(chars)}
    ctx = 24
    train = encode(train_txt, stoi, ctx)
    val = encode(val_txt, stoi, ctx)
    print(f"vocab {len(chars)}  train logs {len(train_txt)}  val logs {len(val_txt)}")

    model = TinyLM(len(chars), ctx=ctx - 1)
    print("swapping Linear -> BitLinear (QAT)...")
    n_before = sum(1 for m in model.modules() if isinstance(m, nn.Linear))
    model = replace_linear_with_bitlinear(model)
    n_after = sum(1 for m in model.modules() if isinstance(m, BitLinear))
    print(f"   replaced {n_before} Linear -> {n_after} BitLinear")

    optimizer = opt.AdamW(learning_rate=2e-3, weight_decay=0.01)
    batch = 32
    epochs = 5
    for epoch in range(epochs):
        t0 = time.time()
        perm = rng.permutation(train.shape[0])
        tot, n = 0.0, 0
        for i in range(0, train.shape[0], batch):
            xb = train[mx.array(perm[i : i + batch])]
            loss = train_step(model, xb[:, :-1], xb[:, 1:], optimizer)
            mx.eval(model.parameters(), optimizer.state)
            tot += loss.item()
            n += 1
        vloss = ce_loss(model(val[:, :-1]), val[:, 1:]).item()
        print(f"epoch {epoch + 1}/{epochs} | loss {tot / n:.4f} | val {vloss:.4f} | {time.time() - t0:.1f}s")

    counts = np.zeros(3, dtype=np.int64)
    n_mats = 0
    for path, m in model.named_modules():
        if isinstance(m, BitLinear):
            q = np.array(mx.sign(m.weight - m.weight.mean()))
            counts += [(q < 0).sum(), (q == 0).sum(), (q > 0).sum()]
            n_mats += 1
    frac = counts / counts.sum()
    print(f"ternary export: {n_mats} matrices, codes -1/0/+1 = {frac[0]:.3f}/{frac[1]:.3f}/{frac[2]:.3f}")


if __name__ == "__main__":
    main()
