# Tiny LoRA fine-tune driver in the style of mlx_lm/lora.py: options come from the
# command line, an optional YAML-ish config, and CONFIG_DEFAULTS.
import argparse
import json
import time
from types import SimpleNamespace

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

CONFIG_DEFAULTS = {
    "seed": 0,
    "batch_size": 16,
    "iters": 300,
    "learning_rate": 1e-2,
    "steps_per_report": 50,
    "lora_rank": 4,
    "config": None,
}


def build_parser():
    p = argparse.ArgumentParser(description="LoRA finetuning of a frozen linear model.")
    p.add_argument("--seed", type=int, help="PRNG seed")
    p.add_argument("--batch-size", type=int, help="Minibatch size.")
    p.add_argument("--iters", type=int, help="Iterations to train for.")
    p.add_argument("--learning-rate", type=float, help="Adam learning rate.")
    p.add_argument("--steps-per-report", type=int, help="Steps between loss reports.")
    p.add_argument("--lora-rank", type=int, help="LoRA rank.")
    p.add_argument("-c", "--config", default=None, help="A JSON config file")
    return p


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int):
        super().__init__()
        self.base = base
        d_out, d_in = base.weight.shape
        self.lora_a = mx.random.normal((d_in, rank)) * (1.0 / d_in**0.5)
        self.lora_b = mx.zeros((rank, d_out))

    def __call__(self, x):
        return self.base(x) + (x @ self.lora_a) @ self.lora_b


class Net(nn.Module):
    def __init__(self, rank):
        super().__init__()
        self.l1 = LoRALinear(nn.Linear(12, 32), rank)
        self.l2 = LoRALinear(nn.Linear(32, 4), rank)

    def __call__(self, x):
        return self.l2(nn.gelu(self.l1(x)))


def run(args):
    np.random.seed(args.seed)
    mx.random.seed(args.seed or 0)
    X = np.random.randn(1024, 12).astype(np.float32)
    W = np.random.randn(12, 4).astype(np.float32)
    y = np.argmax(X @ W, axis=1)
    X, y = mx.array(X), mx.array(y)

    model = Net(args.lora_rank)
    model.freeze()
    model.l1.unfreeze(keys=["lora_a", "lora_b"])
    model.l2.unfreeze(keys=["lora_a", "lora_b"])
    n_tr = sum(v.size for _, v in __import__("mlx.utils").utils.tree_flatten(model.trainable_parameters()))
    print(f"Trainable parameters: {n_tr}")

    opt = optim.Adam(learning_rate=args.learning_rate)

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    step = nn.value_and_grad(model, loss_fn)
    tic = time.perf_counter()
    losses = []
    for it in range(1, args.iters + 1):
        idx = mx.array(np.random.randint(0, X.shape[0], args.batch_size))
        loss, grads = step(model, X[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
        if it % args.steps_per_report == 0:
            acc = (mx.argmax(model(X), axis=1) == y).mean().item()
            print(f"Iter {it}: Train loss {np.mean(losses):.3f}, Acc {acc:.3f}, "
                  f"It/sec {args.steps_per_report / (time.perf_counter() - tic):.1f}")
            losses, tic = [], time.perf_counter()


if __name__ == "__main__":
    parser = build_parser()
    args = parser.parse_args()
    if args.config:
        print("Loading configuration file", args.config)
        with open(args.config) as f:
            param_dict = json.load(f)
        param_dict.update({k: v for k, v in vars(args).items() if v is not None})
        param_dict.update({k: d for k, d in CONFIG_DEFAULTS.items() if k not in param_dict})
        args = SimpleNamespace(**param_dict)
    else:
        args.__dict__.update(
            {
                arg: CONFIG_DEFAULTS[arg]
                for arg, value in args.__dict__.items()
                if value is None and arg != "config"
            }
        )
    run(args)
