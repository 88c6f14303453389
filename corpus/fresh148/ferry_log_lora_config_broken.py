"""LoRA fine-tune of a tiny next-character model on synthetic ferry log lines.

Options come from the command line and from a JSON config file; the config
fills in every option that was not given on the command line.
"""
import argparse
import json
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CONFIG_DEFAULTS = {
    "train": False,
    "test": False,
    "grad_checkpoint": False,
    "iters": 300,
    "batch_size": 32,
    "learning_rate": 3e-3,
    "steps_per_report": 25,
    "steps_per_eval": 100,
    "val_batches": 8,
    "test_batches": 8,
    "lora_rank": 4,
    "lora_scale": 2.0,
    "seed": 0,
}


def build_parser():
    p = argparse.ArgumentParser(description="LoRA fine-tuning on ferry logs")
    p.add_argument("--train", action="store_true", help="Do training")
    p.add_argument("--test", action="store_true", help="Evaluate on the test set after training")
    p.add_argument("--grad-checkpoint", action="store_true", help="Use gradient checkpointing")
    p.add_argument("--iters", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--steps-per-report", type=int)
    p.add_argument("--steps-per-eval", type=int)
    p.add_argument("--val-batches", type=int)
    p.add_argument("--test-batches", type=int)
    p.add_argument("--lora-rank", type=int)
    p.add_argument("--lora-scale", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("-c", "--config", type=str)
    return p


# ---------------------------------------------------------------- data
PORTS = ["ARD", "BRO", "CRA", "DUN", "ESK", "FOR", "GIG"]
CTX = 6


def make_lines(rng_seed, n):
    import random
    r = random.Random(rng_seed)
    lines = []
    for _ in range(n):
        a, b = r.sample(PORTS, 2)
        hh = r.randint(5, 21)
        pax = r.randint(1, 9) * 10
        lines.append(f"{a}>{b} {hh:02d}00 pax{pax};")
    return lines


VOCAB = sorted(set("".join(make_lines(0, 400)) + "0123456789"))
STOI = {c: i for i, c in enumerate(VOCAB)}


def to_windows(lines):
    xs, ys = [], []
    for ln in lines:
        ids = [STOI[c] for c in ln]
        for i in range(CTX, len(ids)):
            xs.append(ids[i - CTX:i])
            ys.append(ids[i])
    return mx.array(xs), mx.array(ys)


def load_dataset():
    return to_windows(make_lines(1, 300)), to_windows(make_lines(2, 60)), to_windows(make_lines(3, 60))


def iterate_batches(data, batch_size, train):
    x, y = data
    n = x.shape[0]
    while True:
        perm = mx.random.permutation(n) if train else mx.arange(n)
        for s in range(0, n - batch_size + 1, batch_size):
            idx = perm[s:s + batch_size]
            yield x[idx], y[idx]
        if not train:
            break


# ---------------------------------------------------------------- model
class LoRALinear(nn.Module):
    def __init__(self, linear, rank, scale):
        super().__init__()
        out_d, in_d = linear.weight.shape
        self.linear = linear
        self.scale = scale
        self.lora_a = mx.random.uniform(-1 / math.sqrt(in_d), 1 / math.sqrt(in_d), (in_d, rank))
        self.lora_b = mx.zeros((rank, out_d))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class CharMLP(nn.Module):
    def __init__(self, vocab, dim=24, hidden=96):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.fc1 = nn.Linear(CTX * dim, hidden)
        self.fc2 = nn.Linear(hidden, vocab)

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        return self.fc2(nn.gelu(self.fc1(h)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, data, batch_size, num_batches):
    tot, cnt = 0.0, 0
    for i, (x, y) in enumerate(iterate_batches(data, batch_size, train=False)):
        if i >= num_batches:
            break
        tot += loss_fn(model, x, y).item()
        cnt += 1
    return tot / max(cnt, 1)


def train_model(args, model, train_set, valid_set):
    model.freeze()
    model.fc1 = LoRALinear(model.fc1, args.lora_rank, args.lora_scale)
    model.fc2 = LoRALinear(model.fc2, args.lora_rank, args.lora_scale)
    model.fc1.linear.freeze()
    model.fc2.linear.freeze()
    n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"Trainable parameters: {100.0 * n_tr / n_all:.3f}% ({n_tr}/{n_all})")
    opt = optim.Adam(learning_rate=args.learning_rate)
    step_fn = nn.value_and_grad(model, loss_fn)
    print("Starting training..., iters:", args.iters)
    t0 = time.perf_counter()
    acc, n_acc = 0.0, 0
    batches = iterate_batches(train_set, args.batch_size, train=True)
    for it in range(1, args.iters + 1):
        x, y = next(batches)
        if it == 1 or it % args.steps_per_eval == 0 or it == args.iters:
            vl = evaluate(model, valid_set, args.batch_size, args.val_batches)
            print(f"Iter {it}: Val loss {vl:.3f}")
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        acc += loss.item()
        n_acc += 1
        if it % args.steps_per_report == 0:
            dt = time.perf_counter() - t0
            print(f"Iter {it}: Train loss {acc / n_acc:.3f}, Learning Rate {args.learning_rate:.3e}, "
                  f"It/sec {args.steps_per_report / dt:.2f}")
            acc, n_acc = 0.0, 0
            t0 = time.perf_counter()
    return model


def run(args):
    mx.random.seed(args.seed)
    print("Loading pretrained model")
    model = CharMLP(len(VOCAB))
    mx.eval(model.parameters())
    print("Loading datasets")
    train_set, valid_set, test_set = load_dataset()
    if args.test and not args.train:
        pass
    elif args.train:
        print("Training")
        train_model(args, model, train_set, valid_set)
    else:
        raise ValueError("Must provide at least one of --train or --test")
    if args.test:
        print("Testing")
        tl = evaluate(model, test_set, args.batch_size, args.test_batches)
        print(f"Test loss {tl:.3f}, Test ppl {math.exp(tl):.3f}.")


def main(argv=None):
    parser = build_parser()
    args = vars(parser.parse_args(argv))
    config = args.pop("config")
    if config:
        print("Loading configuration file", config)
        with open(config) as fh:
            config = json.load(fh)
        for k, v in config.items():
            if args.get(k, None) is None:
                args[k] = v
    for k, v in CONFIG_DEFAULTS.items():
        if args.get(k, None) is None:
            args[k] = v
    run(argparse.Namespace(**args))


if __name__ == "__main__":
    cfg = {"train": True, "test": True, "iters": 1500, "batch_size": 64,
           "learning_rate": 2e-3, "lora_rank": 4, "steps_per_eval": 500, "steps_per_report": 100}
    path = os.path.join(tempfile.mkdtemp(), "ferry_lora.json")
    with open(path, "w") as fh:
        json.dump(cfg, fh)
    main(["--config", path])
