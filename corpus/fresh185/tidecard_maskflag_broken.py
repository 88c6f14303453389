# Completion-only LoRA fine-tune of a tiny char LM on "recipe card" prompt/answer pairs.
# Config comes from a YAML-like dict (as a sweep tool would load it); --mask-inputs is a CLI flag.
import argparse
import time
from types import SimpleNamespace

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

CONFIG = """
batch_size: 8
iters: 240
learning_rate: 0.004
lora_rank: 4
max_seq_length: 40
steps_per_report: 30
seed: 3
"""


def yaml_loader(text):
    out = {}
    for line in text.strip().splitlines():
        k, v = line.split(":")
        v = v.strip()
        out[k.strip()] = float(v) if "." in v else int(v)
    return out


VOCAB = list(" abcdefghijklmnopqrstuvwxyz0123456789:>.")
STOI = {c: i for i, c in enumerate(VOCAB)}


def encode(s):
    return [STOI[c] for c in s]


def make_pairs(n, rng):
    fruits = ["apple", "pear", "plum", "fig", "lime", "kiwi"]
    pairs = []
    for _ in range(n):
        f = fruits[rng.integers(len(fruits))]
        k = int(rng.integers(1, 9))
        prompt = f"{f} x{k} >"
        answer = f" {f[::-1]} {k * 2}."
        pairs.append((prompt, answer))
    return pairs


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r: int):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.base = base
        self.lora_a = mx.random.normal((in_d, r)) * (1.0 / np.sqrt(in_d))
        self.lora_b = mx.zeros((r, out_d))

    def __call__(self, x):
        return self.base(x) + (x @ self.lora_a) @ self.lora_b * 2.0


class TinyLM(nn.Module):
    def __init__(self, v, d=64):
        super().__init__()
        self.emb = nn.Embedding(v, d)
        self.rnn = nn.GRU(d, d)
        self.proj = nn.Linear(d, d)
        self.head = nn.Linear(d, v)

    def __call__(self, x):
        h = self.rnn(self.emb(x))
        return self.head(nn.gelu(self.proj(h)))


def iterate_batches(pairs, batch_size, max_len, rng):
    while True:
        idx = rng.permutation(len(pairs))
        for s in range(0, len(idx) - batch_size + 1, batch_size):
            toks = [encode(pairs[i][0] + pairs[i][1])[:max_len] for i in idx[s:s + batch_size]]
            L = max(len(t) for t in toks)
            arr = np.zeros((batch_size, L), np.int32)
            for j, t in enumerate(toks):
                arr[j, :len(t)] = t
            lengths = np.array([len(t) for t in toks])
            yield mx.array(arr[:, :-1]), mx.array(arr[:, 1:]), mx.array(lengths - 1)


def iterate_delineated_batches(pairs, batch_size, max_len, rng):
    while True:
        idx = rng.permutation(len(pairs))
        for s in range(0, len(idx) - batch_size + 1, batch_size):
            sel = [pairs[i] for i in idx[s:s + batch_size]]
            toks = [encode(p + a)[:max_len] for p, a in sel]
            L = max(len(t) for t in toks)
            arr = np.zeros((batch_size, L), np.int32)
            for j, t in enumerate(toks):
                arr[j, :len(t)] = t
            plen = np.array([len(p) for p, _ in sel])
            lengths = np.array([len(t) for t in toks])
            yield mx.array(arr[:, :-1]), mx.array(arr[:, 1:]), mx.array(plen - 1), mx.array(lengths - 1)


def default_loss(model, inputs, targets, lengths):
    logits = model(inputs)
    pos = mx.arange(inputs.shape[1])[None, :]
    mask = pos < lengths[:, None]
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    return ce.sum() / ntoks, ntoks


def input_masked_loss(model, inputs, targets, prompt_lengths, lengths):
    logits = model(inputs)
    pos = mx.arange(inputs.shape[1])[None, :]
    mask = (pos >= prompt_lengths[:, None]) & (pos < lengths[:, None])
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    return ce.sum() / ntoks, ntoks


def train(model, optimizer, batches, loss, iters, report_every):
    loss_and_grad = nn.value_and_grad(model, loss)
    acc, acc_n, t0 = 0.0, 0, time.perf_counter()
    for it in range(1, iters + 1):
        batch = next(batches)
        (lvalue, ntoks), grads = loss_and_grad(model, *batch)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, lvalue, ntoks)
        acc += lvalue.item()
        acc_n += 1
        if it % report_every == 0:
            dt = time.perf_counter() - t0
            print(f"Iter {it}: Train loss {acc / acc_n:.3f}, It/sec {report_every / dt:.2f}, "
                  f"Trained Tokens {int(ntoks.item())}")
            acc, acc_n, t0 = 0.0, 0, time.perf_counter()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mask-inputs", dest="mask_inputs", action="store_true", default=True)
    ap.add_argument("--no-mask-inputs", dest="mask_inputs", action="store_false")
    cli = ap.parse_args()
    mask_inputs = cli.mask_inputs

    param_dict = yaml_loader(CONFIG)
    args = SimpleNamespace(**param_dict)
    mx.random.seed(args.seed)
    rng = np.random.default_rng(args.seed)

    model = TinyLM(len(VOCAB))
    # pretend-pretrained base: freeze, then attach LoRA to proj and head
    model.freeze()
    model.proj = LoRALinear(model.proj, args.lora_rank)
    model.head = LoRALinear(model.head, args.lora_rank)
    model.proj.base.freeze()
    model.head.base.freeze()
    n_tr = sum(v.size for _, v in __import__("mlx.utils", fromlist=["x"]).tree_flatten(model.trainable_parameters()))
    print(f"Trainable parameters: {n_tr} | mask_inputs={mask_inputs}")

    train_pairs = make_pairs(400, rng)
    optimizer = optim.Adam(learning_rate=args.learning_rate)
    train(
        model,
        optimizer,
        batches=(
            iterate_delineated_batches if args.mask_inputs else iterate_batches
        )(train_pairs, args.batch_size, args.max_seq_length, rng),
        loss=input_masked_loss if mask_inputs else default_loss,
        iters=args.iters,
        report_every=args.steps_per_report,
    )
    print("Saved adapter weights (in memory).")


if __name__ == "__main__":
    main()
