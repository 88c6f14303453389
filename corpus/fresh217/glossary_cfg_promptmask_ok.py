# Fine-tune a tiny causal LM on "glossary" records: 10 random source-code tokens
# (the prompt), a separator, then the 3-token target code (the completion).
# Options come from a YAML-like config dict merged with argparse, like mlx_lm.lora.
import argparse
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

CONFIG_DEFAULTS = {
    "iters": 300,
    "batch_size": 32,
    "learning_rate": 2e-3,
    "steps_per_report": 30,
    "steps_per_eval": 100,
    "seed": 0,
    "mask_prompt": False,
}

# what the user put in their config.yaml
USER_CONFIG = {"mask_prompt": True, "iters": 300, "learning_rate": 3e-3}

VOCAB, PROMPT, COMP = 40, 10, 3
SEP = VOCAB - 1


def build_parser():
    p = argparse.ArgumentParser(description="glossary LoRA-style tuner")
    p.add_argument("--iters", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument(
        "--mask-prompt",
        action="store_true",
        help="Mask the prompt in the loss when training",
        default=None,
    )
    return p


def make_records(n, rng):
    src = rng.integers(0, VOCAB - 1, size=(n, PROMPT))
    # target code: a fixed function of three prompt positions
    tgt = np.stack([(src[:, 1] + src[:, 4]) % (VOCAB - 1),
                    (src[:, 7] * 3) % (VOCAB - 1),
                    (src[:, 2] + 11) % (VOCAB - 1)], axis=1)
    sep = np.full((n, 1), SEP)
    return np.concatenate([src, sep, tgt], axis=1).astype(np.int32)


class TinyLM(nn.Module):
    def __init__(self, dims=64, heads=4, length=PROMPT + 1 + COMP):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(length, dims)
        self.block1 = nn.TransformerEncoderLayer(dims, heads, mlp_dims=4 * dims)
        self.norm = nn.LayerNorm(dims)
        self.out = nn.Linear(dims, VOCAB)

    def __call__(self, x):
        L = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        h = self.block1(h, mask)
        return self.out(self.norm(h))


def loss_fn(model, batch, prompt_offset):
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs)
    steps = mx.arange(targets.shape[1])[None, :]
    mask = mx.broadcast_to(steps >= prompt_offset, targets.shape).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, targets) * mask
    return ce.sum() / mask.sum()


def main():
    args = vars(build_parser().parse_args([]))
    for k, v in USER_CONFIG.items():
        if args.get(k, None) is None:
            args[k] = v
    for k, v in CONFIG_DEFAULTS.items():
        if args.get(k, None) is None:
            args[k] = v
    print(f"Loaded config: mask_prompt={args['mask_prompt']} iters={args['iters']} lr={args['learning_rate']}")

    rng = np.random.default_rng(args["seed"])
    mx.random.seed(args["seed"])
    train = make_records(4000, rng)
    valid = make_records(512, rng)
    # targets index t predicts token t+1; the completion starts at token PROMPT+1
    offset = PROMPT if args["mask_prompt"] else 0

    model = TinyLM()
    opt = optim.Adam(learning_rate=args["learning_rate"])
    vg = nn.value_and_grad(model, loss_fn)
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"Trainable parameters: {n_params / 1e3:.1f}K")

    val_batch = mx.array(valid)
    print(f"Iter 1: Val loss {loss_fn(model, val_batch, offset).item():.3f}")
    tic = time.perf_counter()
    losses = []
    bs = args["batch_size"]
    for it in range(1, args["iters"] + 1):
        idx = rng.integers(0, len(train), size=bs)
        loss, grads = vg(model, mx.array(train[idx]), offset)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
        if it % args["steps_per_report"] == 0:
            el = time.perf_counter() - tic
            print(f"Iter {it}: Train loss {np.mean(losses):.3f}, Learning Rate {args['learning_rate']:.3e}, "
                  f"It/sec {args['steps_per_report'] / el:.3f}")
            losses = []
            tic = time.perf_counter()
        if it % args["steps_per_eval"] == 0:
            print(f"Iter {it}: Val loss {loss_fn(model, val_batch, offset).item():.3f}")


if __name__ == "__main__":
    main()
