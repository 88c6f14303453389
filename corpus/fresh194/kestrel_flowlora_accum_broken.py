# Tiny DreamBooth-style LoRA finetune of a rectified-flow "transformer" with gradient accumulation.
import argparse
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int = 4, scale: float = 2.0):
        super().__init__()
        out_dims, in_dims = base.weight.shape
        self.linear = base
        self.scale = scale
        self.lora_a = mx.random.uniform(-1 / in_dims**0.5, 1 / in_dims**0.5, (in_dims, rank))
        self.lora_b = mx.zeros((rank, out_dims))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 2 * d)
        self.fc2 = nn.Linear(2 * d, d)

    def __call__(self, h, mod):
        return h + self.fc2(nn.gelu(self.fc1(self.norm(h) * (1 + mod[:, None, :]))))


class TinyFlow(nn.Module):
    def __init__(self, d_img=16, d_txt=24, d_vec=32, d=48, depth=4):
        super().__init__()
        self.img_in = nn.Linear(d_img, d)
        self.txt_in = nn.Linear(d_txt, d)
        self.vec_in = nn.Linear(d_vec + 2, d)
        self.blocks = [Block(d) for _ in range(depth)]
        self.out = nn.Linear(d, d_img)

    def __call__(self, x, t5_feat, clip_feat, t, guidance):
        txt = self.txt_in(t5_feat).mean(axis=1, keepdims=True)
        vec = self.vec_in(mx.concatenate([clip_feat, t[:, None], guidance[:, None]], axis=-1))
        h = self.img_in(x) + txt
        for b in self.blocks:
            h = b(h, vec)
        return self.out(h)


class Flux:
    def __init__(self):
        self.flow = TinyFlow()

    def training_loss(self, x0, t5_feat, clip_feat, guidance):
        t = mx.random.uniform(shape=(x0.shape[0],))
        noise = mx.random.normal(x0.shape)
        xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * noise
        pred = self.flow(xt, t5_feat, clip_feat, t, guidance)
        return (pred - (noise - x0)).square().mean()

    def linear_to_lora_layers(self, blocks):
        for b in self.flow.blocks[-blocks:]:
            b.fc1 = LoRALinear(b.fc1)
            b.fc2 = LoRALinear(b.fc2)


class FinetuningDataset:
    """Four 'instance images' (8 latent tokens x 16 ch) with their cached prompt encodings."""

    def __init__(self, n=4):
        k = mx.random.key(7)
        k1, k2, k3 = mx.random.split(k, 3)
        base = mx.random.normal((n, 1, 16), key=k1)
        pos = mx.sin(mx.arange(8)[:, None] * (mx.arange(16)[None] + 1) * 0.3)
        self.latents = 0.8 * base + 0.5 * pos[None]
        self.t5 = mx.random.normal((n, 6, 24), key=k2)
        self.clip = mx.random.normal((n, 32), key=k3)

    def iterate(self, batch_size):
        n = self.latents.shape[0]
        while True:
            idx = mx.random.randint(0, n, (batch_size,))
            yield self.latents[idx], self.t5[idx], self.clip[idx]


def average_gradients(grads):
    return grads  # single process


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--lora-blocks", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--grad-accumulate", type=int, default=4)
    parser.add_argument("--guidance", type=float, default=4.0)
    args = parser.parse_args()
    mx.random.seed(0)

    flux = Flux()
    mx.eval(flux.flow.parameters())
    flux.flow.freeze()
    flux.linear_to_lora_layers(args.lora_blocks)
    trainable = sum(v.size for _, v in tree_flatten(flux.flow.trainable_parameters()))
    print(f"Trainable parameters: {trainable}", flush=True)

    optimizer = optim.Adam(learning_rate=args.learning_rate)
    state = [flux.flow.state, optimizer.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def single_step(x, t5_feat, clip_feat, guidance):
        loss, grads = nn.value_and_grad(flux.flow, flux.training_loss)(
            x, t5_feat, clip_feat, guidance
        )
        grads = average_gradients(grads)
        optimizer.update(flux.flow, grads)
        return loss

    @partial(mx.compile, inputs=state, outputs=state)
    def compute_loss_and_grads(t5_feat, clip_feat, x, guidance):
        return nn.value_and_grad(flux.flow, flux.training_loss)(
            x, t5_feat, clip_feat, guidance
        )

    @partial(mx.compile, inputs=state, outputs=state)
    def compute_loss_and_accumulate_grads(x, t5_feat, clip_feat, guidance, prev_grads):
        loss, grads = nn.value_and_grad(flux.flow, flux.training_loss)(
            x, t5_feat, clip_feat, guidance
        )
        grads = tree_map(lambda a, b: a + b, prev_grads, grads)
        return loss, grads

    @partial(mx.compile, inputs=state, outputs=state)
    def grad_accumulate_and_step(x, t5_feat, clip_feat, guidance, prev_grads):
        loss, grads = nn.value_and_grad(flux.flow, flux.training_loss)(
            x, t5_feat, clip_feat, guidance
        )
        grads = tree_map(lambda a, b: a + b, prev_grads, grads)
        grads = average_gradients(grads)
        optimizer.update(flux.flow, grads)
        return loss

    def step(x, t5_feat, clip_feat, guidance, prev_grads, perform_step):
        if prev_grads is None:
            if perform_step:
                return single_step(x, t5_feat, clip_feat, guidance), None
            else:
                return compute_loss_and_grads(x, t5_feat, clip_feat, guidance)
        else:
            if perform_step:
                return (
                    grad_accumulate_and_step(
                        x, t5_feat, clip_feat, x, guidance, prev_grads
                    ),
                    None,
                )
            else:
                return compute_loss_and_accumulate_grads(
                    x, t5_feat, clip_feat, guidance, prev_grads
                )

    print("Create the training dataset.", flush=True)
    dataset = FinetuningDataset()
    guidance = mx.full((args.batch_size,), args.guidance)

    grads = None
    losses = []
    tic = time.time()
    for i, batch in zip(range(args.iterations), dataset.iterate(args.batch_size)):
        loss, grads = step(*batch, guidance, grads, (i + 1) % args.grad_accumulate == 0)
        mx.eval(loss, grads, state)
        losses.append(loss.item())

        if (i + 1) % 40 == 0:
            toc = time.time()
            peak_mem = mx.get_peak_memory() / 1024**2
            print(
                f"Iter: {i+1} Loss: {sum(losses) / 40:.3f} "
                f"It/s: {40 / (toc - tic):.3f} "
                f"Peak mem: {peak_mem:.1f} MB",
                flush=True,
            )
            losses = []
            tic = time.time()
    print("Finished training", flush=True)
