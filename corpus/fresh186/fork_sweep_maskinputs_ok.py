# Completion-only LoRA-style sweep on a tiny char model: prompt tokens are masked
# out of the loss when mask_inputs is on (delineated batches carry the prompt length).
import random
from types import SimpleNamespace

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB = list("abcdefghijklmnopqrstuvwxyz =?0123456789|")
STOI = {c: i for i, c in enumerate(VOCAB)}


def make_record(rng):
    a, b = rng.randint(0, 49), rng.randint(0, 49)
    prompt = f"{a:02d}+{b:02d}=?".replace("+", " ")
    completion = f"{a + b:03d}|"
    return prompt, completion


class Dataset:
    def __init__(self, n, seed):
        rng = random.Random(seed)
        self.rows = [make_record(rng) for _ in range(n)]

    def __len__(self):
        return len(self.rows)


def encode(s):
    return [STOI[c] for c in s]


def iterate_delineated_batches(dataset, batch_size, rng):
    idx = list(range(len(dataset)))
    rng.shuffle(idx)
    for s in range(0, len(idx) - batch_size + 1, batch_size):
        toks, in_lens = [], []
        for i in idx[s:s + batch_size]:
            p, c = dataset.rows[i]
            toks.append(encode(p + c))
            in_lens.append(len(p))
        arr = mx.array(np.array(toks, dtype=np.int32))
        yield arr[:, :-1], arr[:, 1:], mx.array(in_lens)


def iterate_batches(dataset, batch_size, rng):
    for x, y, _ in iterate_delineated_batches(dataset, batch_size, rng):
        yield x, y, None


class TinyLM(nn.Module):
    def __init__(self, vocab, dim=64):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, dim)
        self.lora_a = nn.Linear(dim, 8, bias=False)
        self.lora_b = nn.Linear(8, dim, bias=False)
        self.lora_b.weight = mx.zeros_like(self.lora_b.weight)
        self.head = nn.Linear(dim, vocab)

    def __call__(self, x):
        h = self.rnn(self.emb(x))
        h = h + self.lora_b(self.lora_a(h))
        return self.head(h)


def default_loss(model, x, y, in_lens):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def input_masked_loss(model, x, y, in_lens):
    ce = nn.losses.cross_entropy(model(x), y)
    pos = mx.arange(y.shape[1])[None, :]
    mask = (pos >= (in_lens[:, None] - 1)).astype(ce.dtype)
    return (ce * mask).sum() / mask.sum()


def train(model, optimizer, train_dataset, val_dataset, args, iterate_batches, loss):
    rng = random.Random(args.seed)
    loss_and_grad = nn.value_and_grad(model, loss)
    step = 0
    while step < args.iters:
        for x, y, lens in iterate_batches(train_dataset, args.batch_size, rng):
            lv, g = loss_and_grad(model, x, y, lens)
            optimizer.update(model, g)
            mx.eval(model.parameters(), optimizer.state, lv)
            step += 1
            if step % args.steps_per_report == 0:
                vl = [loss(model, vx, vy, vl_) for vx, vy, vl_ in
                      iterate_batches(val_dataset, args.batch_size, random.Random(0))]
                print(f"Iter {step}: train loss {lv.item():.3f}, val loss {mx.mean(mx.stack(vl)).item():.3f}")
            if step >= args.iters:
                break


class Sweeper:
    def __init__(self, config, train_type, mask_inputs):
        self.config = config
        self.train_type = train_type
        self.mask_inputs = mask_inputs

    def sweep(self, trial, learning_rate):
        self.config["learning_rate"] = learning_rate
        print(f"trial {trial} learning rate: {self.config['learning_rate']}")
        self.config["mask_inputs"] = self.mask_inputs
        if self.mask_inputs:
            print(f"Masking inputs")

        args = SimpleNamespace(**self.config)
        np.random.seed(args.seed)
        mx.random.seed(args.seed)

        model = TinyLM(len(VOCAB))
        model.freeze()
        model.lora_a.unfreeze()
        model.lora_b.unfreeze()
        model.head.unfreeze()
        train_set, valid_set = Dataset(1024, 1), Dataset(128, 2)
        print("Training")
        model.train()
        opt = optim.Adam(learning_rate=args.learning_rate)
        train(
            model=model,
            optimizer=opt,
            train_dataset=train_set,
            val_dataset=valid_set,
            args=args,
            iterate_batches=(
                iterate_delineated_batches if args.mask_inputs else iterate_batches
            ),
            loss=input_masked_loss if self.mask_inputs else default_loss,
        )


if __name__ == "__main__":
    config = dict(seed=0, iters=150, batch_size=32, steps_per_report=25)
    sweeper = Sweeper(config, "lora-completion-only", mask_inputs=True)
    for t, lr in enumerate([3e-3, 1e-2]):
        sweeper.sweep(t, lr)
