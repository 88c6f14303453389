#!/usr/bin/env python
# LoRA fine-tune of a tiny (randomly "pretrained") MoE language model.
# The experts are stored stacked (SwitchLinear, mx.gather_mm) like mlx-lm's
# SwitchGLU; LoRA adapters are added to the three expert projections and only
# the adapters are trained.
import math
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

VOCAB, DIM, HID, N_EXP, TOP_K, SEQ = 32, 48, 96, 4, 2, 16


class SwitchLinear(nn.Module):
    def __init__(self, din, dout, n_exp):
        super().__init__()
        s = math.sqrt(1 / din)
        self.weight = mx.random.uniform(-s, s, (n_exp, dout, din))

    def __call__(self, x, indices):
        return mx.gather_mm(x, self.weight.swapaxes(-1, -2), rhs_indices=indices)


class LoRASwitchLinear(nn.Module):
    def __init__(self, base: SwitchLinear, r=4, scale=4.0):
        super().__init__()
        num_experts, output_dims, input_dims = base.weight.shape
        self.linear = base
        self.scale = scale
        s = 1 / math.sqrt(input_dims)
        self.lora_a = mx.random.uniform(low=-s, high=s, shape=(r * num_experts, input_dims))
        self.lora_b = mx.zeros(shape=(num_experts, output_dims, r))
        self.num_experts = num_experts

    def __call__(self, x, indices):
        shape = x.shape[:-3] + (self.num_experts, -1)
        y = self.linear(x, indices)
        z = (x @ self.lora_a.T).reshape(shape)
        z = mx.take_along_axis(z, indices[..., None], axis=-2)
        z = z[..., None, :] @ self.lora_b[indices].swapaxes(-2, -1)
        return y + (self.scale * z).astype(x.dtype)


class SwitchGLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate_proj = SwitchLinear(DIM, HID, N_EXP)
        self.up_proj = SwitchLinear(DIM, HID, N_EXP)
        self.down_proj = SwitchLinear(HID, DIM, N_EXP)

    def __call__(self, x, indices):
        x = mx.expand_dims(x, (-2, -3))                       # (B, L, 1, 1, D)
        h = nn.silu(self.gate_proj(x, indices)) * self.up_proj(x, indices)  # (B, L, k, 1, H)
        return self.down_proj(h, indices).squeeze(-2)        # (B, L, k, D)


class MoEBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.RMSNorm(DIM)
        self.router = nn.Linear(DIM, N_EXP, bias=False)
        self.switch_mlp = SwitchGLU()

    def __call__(self, x):
        h = self.norm(x)
        gates = mx.softmax(self.router(h), axis=-1)
        inds = mx.stop_gradient(mx.argpartition(-gates, kth=TOP_K - 1, axis=-1)[..., :TOP_K])
        scores = mx.take_along_axis(gates, inds, axis=-1)
        y = self.switch_mlp(h, inds)
        return x + (y * scores[..., None]).sum(axis=-2)


class TinyMoELM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.mix = nn.Conv1d(DIM, DIM, kernel_size=3, padding=0)
        self.blocks = [MoEBlock() for _ in range(2)]
        self.out_norm = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB, bias=False)

    def __call__(self, toks):
        h = self.embed(toks)
        h = h + self.mix(mx.pad(h, [(0, 0), (2, 0), (0, 0)]))  # causal width-3 mixing
        for b in self.blocks:
            h = b(h)
        return self.head(self.out_norm(h))


def sample_task(rng, n):
    # new "domain": arithmetic-progression sequences mod VOCAB with a random stride
    start = rng.integers(0, VOCAB, size=(n, 1))
    stride = rng.choice([1, 3, 5], size=(n, 1))
    seq = (start + stride * np.arange(SEQ + 1)[None, :]) % VOCAB
    return mx.array(seq[:, :-1]), mx.array(seq[:, 1:])


def main():
    mx.random.seed(5)
    rng = np.random.default_rng(5)
    model = TinyMoELM()
    model.freeze()
    for b in model.blocks:
        sm = b.switch_mlp
        sm.gate_proj = LoRASwitchLinear(sm.gate_proj)
        sm.up_proj = LoRASwitchLinear(sm.up_proj)
        sm.down_proj = LoRASwitchLinear(sm.down_proj)
    mx.eval(model.parameters())
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"trainable params: {n_train} / {n_all} ({100 * n_train / n_all:.2f}%)")

    def loss_fn(m, x, y):
        logits = m(x)
        # ignore the first 2 positions: the stride is not identifiable yet
        return nn.losses.cross_entropy(logits[:, 2:], y[:, 2:], reduction="mean")

    lg = nn.value_and_grad(model, loss_fn)
    opt = optim.Adam(learning_rate=5e-3)
    xv, yv = sample_task(rng, 256)
    t0 = time.time()
    for it in range(1, 301):
        x, y = sample_task(rng, 32)
        loss, g = lg(model, x, y)
        opt.update(model, g)
        mx.eval(model.trainable_parameters(), opt.state, loss)
        if it == 1 or it % 30 == 0:
            logits = model(xv)
            vl = nn.losses.cross_entropy(logits[:, 2:], yv[:, 2:], reduction="mean").item()
            acc = (mx.argmax(logits[:, 2:], -1) == yv[:, 2:]).mean().item()
            sys.stdout.write(f"[{it:3d}/300] loss {loss.item():.4f}  val_loss {vl:.4f}  "
                             f"val_next_tok_acc {acc:.3f}  ({time.time() - t0:.1f}s)\n")
    print(f"uniform-guess loss = ln({VOCAB}) = {math.log(VOCAB):.3f}")


if __name__ == "__main__":
    main()
