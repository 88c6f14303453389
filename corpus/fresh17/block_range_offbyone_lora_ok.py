"""DreamBooth-style LoRA fine-tune of a small (frozen) flow-matching denoiser.
Which blocks get LoRA adapters is read from a training spec, like mflux's
train.json: {"blocks": {"start": 5, "end": 6}} -> the last block only."""
import json
import math
from dataclasses import dataclass
from typing import List, Optional

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SPEC = json.loads('{"lr": 1e-3, "steps": 400, "batch": 128, "rank": 4, "blocks": {"start": 5, "end": 6}}')


@dataclass
class BlockRange:
    start: Optional[int] = None
    end: Optional[int] = None
    indices: Optional[List[int]] = None

    def get_blocks(self) -> List[int]:
        if self.indices:
            return self.indices
        if self.start is not None and self.end is not None:
            return list(range(self.start, self.end))
        raise ValueError("Either 'start' and 'end' or 'indices' must be provided.")


class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear: nn.Linear, r=4, scale=1.0):
        out_d, in_d = linear.weight.shape
        l = LoRALinear(in_d, out_d, r, scale)
        l.linear = linear
        return l

    def __init__(self, in_d, out_d, r, scale):
        super().__init__()
        self.linear = nn.Linear(in_d, out_d)
        self.scale = scale
        self.lora_A = mx.random.uniform(-1 / math.sqrt(in_d), 1 / math.sqrt(in_d), (in_d, r))
        self.lora_B = mx.zeros((r, out_d))

    def __call__(self, x):
        return self.linear(x) + self.scale * (x @ self.lora_A) @ self.lora_B


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, 2 * d)
        self.ff2 = nn.Linear(2 * d, d)

    def __call__(self, h):
        return h + self.ff2(nn.silu(self.ff1(self.norm(h))))


class Denoiser(nn.Module):
    def __init__(self, d=32, n_blocks=6):
        super().__init__()
        self.inp = nn.Linear(3, d)
        self.blocks = [Block(d) for _ in range(n_blocks)]
        self.out = nn.Linear(d, 2)

    def __call__(self, x, t):
        h = self.inp(mx.concatenate([x, t[:, None]], axis=-1))
        for b in self.blocks:
            h = b(h)
        return self.out(h)


def target_batch(n):
    # the "subject": points on a small ring around (1.5, -0.5)
    a = mx.random.uniform(0, 2 * math.pi, (n,))
    return mx.stack([1.5 + 0.4 * mx.cos(a), -0.5 + 0.4 * mx.sin(a)], axis=1) + 0.03 * mx.random.normal((n, 2))


def flow_loss(model, x1):
    x0 = mx.random.normal(x1.shape)
    t = mx.random.uniform(shape=(x1.shape[0],))
    xt = (1 - t[:, None]) * x0 + t[:, None] * x1
    return ((model(xt, t) - (x1 - x0)) ** 2).mean()


def main():
    mx.random.seed(0)
    model = Denoiser()
    mx.eval(model.parameters())
    model.freeze()
    blocks = BlockRange(**SPEC["blocks"]).get_blocks()
    for i in blocks:
        b = model.blocks[i]
        b.ff1 = LoRALinear.from_linear(b.ff1, r=SPEC["rank"])
        b.ff2 = LoRALinear.from_linear(b.ff2, r=SPEC["rank"])
    opt = optim.AdamW(learning_rate=SPEC["lr"], weight_decay=0.0)
    step = nn.value_and_grad(model, flow_loss)
    ema = None
    for it in range(1, SPEC["steps"] + 1):
        loss, grads = step(model, target_batch(SPEC["batch"]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        ema = loss.item() if ema is None else 0.9 * ema + 0.1 * loss.item()
        if it == 1 or it % 40 == 0:
            print(f"[train] step {it:4d}/{SPEC['steps']}  loss {loss.item():.4f}  loss_ema {ema:.4f}")
    print("saving adapter ...")


if __name__ == "__main__":
    main()
