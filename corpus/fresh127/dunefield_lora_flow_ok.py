# LoRA fine-tuning of a tiny rectified-flow velocity net (dreambooth-style loop).
import argparse
import json
import tempfile
import time
from functools import partial
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_reduce


class LoRALinear(nn.Module):
    def __init__(self, linear, rank=4, scale=2.0):
        super().__init__()
        out_dims, in_dims = linear.weight.shape
        self.linear = linear
        self.scale = scale
        bound = 1.0 / (in_dims ** 0.5)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, rank))
        self.lora_b = mx.zeros((rank, out_dims))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class VelocityNet(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.layers = [nn.Linear(3, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 2)]

    def __call__(self, x, t):
        h = mx.concatenate([x, t[:, None]], axis=1)
        for l in self.layers[:-1]:
            h = nn.silu(l(h))
        return self.layers[-1](h)

    def training_loss(self, x1, t, noise):
        xt = (1 - t[:, None]) * noise + t[:, None] * x1
        target = x1 - noise
        return mx.mean(mx.square(self(xt, t) - target))

    def linear_to_lora_layers(self, rank):
        self.layers = [LoRALinear(l, rank) for l in self.layers]


def sample_dunes(n):
    # two crescent "dunes" in the plane
    u = mx.random.uniform(0, 3.14159, (n,))
    side = mx.random.bernoulli(0.5, (n,)).astype(mx.float32)
    x = mx.cos(u) + side * 1.0
    y = mx.sin(u) * (1 - 2 * side) + side * 0.5
    pts = mx.stack([x, y], axis=1)
    return pts + 0.05 * mx.random.normal(pts.shape)


def setup_arg_parser():
    parser = argparse.ArgumentParser(description="LoRA flow-matching finetune")
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--warmup-steps", type=int, default=50)
    parser.add_argument("--grad-accumulate", type=int, default=2)
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--output-dir", default=tempfile.mkdtemp(prefix="dunefield_"))
    return parser


def save_adapters(name, model, args):
    path = Path(args.output_dir) / name
    mx.save_safetensors(str(path), dict(tree_flatten(model.trainable_parameters())))
    print(f"Saved {path.name}", flush=True)


if __name__ == "__main__":
    args = setup_arg_parser().parse_args()
    output_path = Path(args.output_dir)
    output_path.mkdir(parents=True, exist_ok=True)
    with open(output_path / "adapter_config.json", "w") as f:
        json.dump(vars(args), f)

    mx.random.seed(0x0F0F)
    flow = VelocityNet()
    flow.freeze()
    flow.linear_to_lora_layers(args.lora_rank)
    mx.eval(flow.parameters())

    trainable = tree_reduce(lambda acc, x: acc + x.size, flow.trainable_parameters(), 0)
    print(f"Training {trainable / 1024:.3f}K parameters", flush=True)

    warmup = optim.linear_schedule(0, args.learning_rate, args.warmup_steps)
    cosine = optim.cosine_decay(args.learning_rate, args.iterations // args.grad_accumulate)
    lr_schedule = optim.join_schedules([warmup, cosine], [args.warmup_steps])
    optimizer = optim.Adam(learning_rate=lr_schedule)
    state = [flow.state, optimizer.state, mx.random.state]

    def loss_fn(model, x1, t, noise):
        return model.training_loss(x1, t, noise)

    @partial(mx.compile, inputs=state, outputs=state)
    def compute_loss_and_grads(x1, t, noise):
        return nn.value_and_grad(flow, loss_fn)(flow, x1, t, noise)

    @partial(mx.compile, inputs=state, outputs=state)
    def grad_accumulate_and_step(x1, t, noise, prev_grads):
        loss, grads = nn.value_and_grad(flow, loss_fn)(flow, x1, t, noise)
        grads = tree_map(lambda a, b: (a + b) / args.grad_accumulate, prev_grads, grads)
        optimizer.update(flow, grads)
        return loss

    def step(x1, t, noise, prev_grads, perform_step):
        if perform_step:
            return grad_accumulate_and_step(x1, t, noise, prev_grads), None
        return compute_loss_and_grads(x1, t, noise)

    grads = None
    losses = []
    tic = time.time()
    for i in range(args.iterations):
        x1 = sample_dunes(args.batch_size)
        t = mx.random.uniform(shape=(args.batch_size,))
        noise = mx.random.normal(x1.shape)
        loss, grads = step(x1, t, noise, grads, (i + 1) % args.grad_accumulate == 0)
        mx.eval(loss, grads, state)
        losses.append(loss.item())

        if (i + 1) % 10 == 0:
            toc = time.time()
            peak_mem = mx.get_peak_memory() / 1024**2
            print(
                f"Iter: {i + 1} Loss: {sum(losses) / 10:.3f} "
                f"It/s: {10 / (toc - tic):.3f} "
                f"Peak mem: {peak_mem:.3f} MB",
                flush=True,
            )
            losses = []
            tic = time.time()

        if (i + 1) % args.checkpoint_every == 0:
            save_adapters(f"{i + 1:07d}_adapters.safetensors", flow, args)

    save_adapters("final_adapters.safetensors", flow, args)
    print("Training successful.")
