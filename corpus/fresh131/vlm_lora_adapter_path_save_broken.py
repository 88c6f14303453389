"""Tiny image-captioning SFT with LoRA adapters (mlx-vlm style trainer).

Synthetic "images" are 6 patch vectors whose content encodes a shape and a colour;
the caption is "<shape> <colour> <size> ." tokens.  The base model (patch projector,
token embedding, 2 attention blocks, lm head) is frozen; only LoRA adapters train.
"""
import argparse
import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SHAPES = ["circle", "square", "star", "arrow", "ring", "cross"]
COLOURS = ["red", "green", "blue", "amber"]
SIZES = ["small", "large"]
VOCAB = ["<pad>", "<bos>", "<img>", "."] + SHAPES + COLOURS + SIZES
TOK = {w: i for i, w in enumerate(VOCAB)}
N_PATCH, PATCH_DIM, D = 6, 12, 64


class Colors:
    OKBLUE = "\033[94m"
    OKGREEN = "\033[92m"
    ENDC = "\033[0m"


@dataclass
class TrainingArgs:
    batch_size: int = field(default=16, metadata={"help": "Minibatch size."})
    iters: int = field(default=240, metadata={"help": "Iterations to train for."})
    steps_per_report: int = field(default=20, metadata={"help": "Steps between loss reports."})
    steps_per_eval: int = field(default=80, metadata={"help": "Steps between validations."})
    steps_per_save: int = field(default=60, metadata={"help": "Save the adapter every N steps."})
    learning_rate: float = 2e-3
    adapter_file: str = field(
        default="adapters.safetensors",
        metadata={"help": "Save/load path for the trained adapter weights."},
    )
    adapter_path: Optional[str] = None


class LoRaLayer(nn.Module):
    def __init__(self, linear: nn.Linear, rank: int = 8, alpha: float = 16.0):
        super().__init__()
        self.original_layer = linear
        out_dims, in_dims = linear.weight.shape
        bound = 1.0 / math.sqrt(in_dims)
        self.A = mx.random.uniform(-bound, bound, (in_dims, rank))
        self.B = mx.zeros((rank, out_dims))
        self.scale = alpha / rank

    def __call__(self, x):
        return self.original_layer(x) + self.scale * ((x @ self.A) @ self.B)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, 4, bias=True)
        self.ln2 = nn.LayerNorm(d)
        self.up = nn.Linear(d, 2 * d)
        self.down = nn.Linear(2 * d, d)

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.down(nn.gelu(self.up(self.ln2(x))))


class TinyVLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision_proj = nn.Linear(PATCH_DIM, D)
        self.embed = nn.Embedding(len(VOCAB), D)
        self.pos = nn.Embedding(N_PATCH + 8, D)
        self.blocks = [Block(D), Block(D)]
        self.norm = nn.LayerNorm(D)
        self.lm_head = nn.Linear(D, len(VOCAB))
        self.config = argparse.Namespace(lora={"rank": 8, "alpha": 16.0})

    def __call__(self, pixel_values, input_ids):
        x = mx.concatenate([self.vision_proj(pixel_values), self.embed(input_ids)], axis=1)
        x = x + self.pos(mx.arange(x.shape[1]))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(x.shape[1])
        for b in self.blocks:
            x = b(x, mask)
        return self.lm_head(self.norm(x))[:, N_PATCH:]


def get_peft_model(model, rank=8, alpha=16.0):
    model.freeze()
    for b in model.blocks:
        b.attn.query_proj = LoRaLayer(b.attn.query_proj, rank, alpha)
        b.attn.value_proj = LoRaLayer(b.attn.value_proj, rank, alpha)
        b.up = LoRaLayer(b.up, rank, alpha)
        b.down = LoRaLayer(b.down, rank, alpha)
    model.lm_head = LoRaLayer(model.lm_head, rank, alpha)
    # only the adapters train
    for _, m in model.named_modules():
        if isinstance(m, LoRaLayer):
            m.freeze(keys=["original_layer"], recurse=True)
            m.unfreeze(keys=["A", "B"], recurse=False)
    return model


def make_dataset(n, seed):
    mx.random.seed(seed)
    shape = mx.random.randint(0, len(SHAPES), (n,))
    colour = mx.random.randint(0, len(COLOURS), (n,))
    size = mx.random.randint(0, len(SIZES), (n,))
    proto_s = mx.random.normal((len(SHAPES), N_PATCH, PATCH_DIM), key=mx.random.key(7))
    proto_c = mx.random.normal((len(COLOURS), 1, PATCH_DIM), key=mx.random.key(8))
    scale = 0.6 + 0.8 * size.astype(mx.float32)
    pix = scale[:, None, None] * proto_s[shape] + proto_c[colour]
    pix = pix + 0.3 * mx.random.normal(pix.shape)
    caption = mx.stack(
        [
            mx.full((n,), TOK["<bos>"]),
            shape + TOK[SHAPES[0]],
            colour + TOK[COLOURS[0]],
            size + TOK[SIZES[0]],
            mx.full((n,), TOK["."]),
        ],
        axis=1,
    )
    return {"pixel_values": pix, "input_ids": caption}


def iterate_batches(ds, batch_size, seed=0):
    n = ds["input_ids"].shape[0]
    epoch = 0
    while True:
        perm = mx.random.permutation(n, key=mx.random.key(seed + epoch))
        for i in range(0, n - batch_size + 1, batch_size):
            idx = perm[i : i + batch_size]
            yield {k: v[idx] for k, v in ds.items()}
        epoch += 1


def vision_language_loss_fn(model, batch):
    ids = batch["input_ids"]
    logits = model(batch["pixel_values"], ids[:, :-1])
    targets = ids[:, 1:]
    ce = nn.losses.cross_entropy(logits, targets, reduction="none")
    ntoks = targets.size
    return ce.sum() / ntoks, ntoks


def evaluate(model, ds):
    ids = ds["input_ids"]
    logits = model(ds["pixel_values"], ids[:, :-1])
    loss = nn.losses.cross_entropy(logits, ids[:, 1:], reduction="mean")
    exact = (mx.argmax(logits, axis=-1) == ids[:, 1:]).all(axis=1).mean()
    return loss.item(), exact.item()


def save_adapter(model: nn.Module, adapter_file: Union[str, Path]):
    """Save adapter weights and config."""
    path = Path(adapter_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "config") and hasattr(model.config, "lora"):
        with open(path.parent / "adapter_config.json", "w") as f:
            json.dump(model.config.lora, f, indent=2)
    flattened_tree = tree_flatten(model.trainable_parameters())
    mx.save_safetensors(str(adapter_file), dict(flattened_tree))


def train(model, optimizer, train_dataset, val_dataset, args: TrainingArgs):
    loss_value_and_grad = nn.value_and_grad(model, vision_language_loss_fn)

    def step(batch):
        (lvalue, toks), grad = loss_value_and_grad(model, batch)
        optimizer.update(model, grad)
        return lvalue, toks

    batches = iterate_batches(train_dataset, args.batch_size)
    losses, n_tokens, steps = 0.0, 0, 0
    tic = time.perf_counter()
    for it in range(1, args.iters + 1):
        batch = next(batches)
        if it == 1 or it % args.steps_per_eval == 0 or it == args.iters:
            vl, vacc = evaluate(model, val_dataset)
            print(f"Iter {it}: Val loss {vl:.3f}, Val caption exact-match {100*vacc:.1f}%", flush=True)
        lvalue, toks = step(batch)
        mx.eval(model.parameters(), optimizer.state, lvalue)
        losses += lvalue.item()
        n_tokens += toks
        steps += 1
        if it % args.steps_per_report == 0:
            dt = time.perf_counter() - tic
            print(
                f"Iter {it}: Train loss {losses / steps:.3f}, "
                f"Learning Rate {optimizer.learning_rate.item():.3e}, "
                f"It/sec {steps / dt:.2f}, Tokens/sec {n_tokens / dt:.1f}, "
                f"Peak mem {mx.get_peak_memory() / 1e9:.3f} GB",
                flush=True,
            )
            losses, n_tokens, steps = 0.0, 0, 0
            tic = time.perf_counter()

        # Save checkpoint
        if it % args.steps_per_save == 0:
            save_adapter(model, args.adapter_file)
            checkpoint = (
                Path(args.adapter_file).parent / f"{it:07d}_adapters.safetensors"
            )
            save_adapter(model, checkpoint)
            print(
                f"{Colors.OKBLUE}Iter {it}: Saved adapter weights to "
                f"{args.adapter_file} and {checkpoint}.{Colors.ENDC}",
                flush=True,
            )

    # Save final weights
    save_adapter(model, args.adapter_file)
    print(f"{Colors.OKGREEN}Saved final adapter weights to {args.adapter_file}.{Colors.ENDC}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--adapter-path", type=str, default=None)
    parser.add_argument("--output-path", type=str, default=None)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    cli = parser.parse_args()

    mx.random.seed(0)
    model = get_peft_model(TinyVLM())
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_total = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"#trainable params: {n_train / 1e3:.2f}K || total: {n_total / 1e3:.2f}K || "
          f"{100 * n_train / n_total:.2f}%")
    train_set = make_dataset(1536, seed=1)
    val_set = make_dataset(256, seed=2)

    with tempfile.TemporaryDirectory(prefix="vlm_sft_") as run_dir:
        adapter_path = cli.adapter_path or run_dir
        args = TrainingArgs(
            learning_rate=cli.learning_rate,
            adapter_file=cli.output_path,
            adapter_path=adapter_path,
        )
        optimizer = optim.Adam(learning_rate=args.learning_rate)
        train(model, optimizer, train_set, val_set, args)


if __name__ == "__main__":
    main()
