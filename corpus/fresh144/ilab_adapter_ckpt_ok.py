# Local LoRA fine-tune of a tiny frozen "base" LM on synthetic instruction data,
# in the style of a lab CLI training command: reports train/val loss and saves
# numbered adapter checkpoints next to the main adapter file.
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

VOCAB = 48
DIM = 64
SEQ = 24


class LoRALinear(nn.Module):
    def __init__(self, din, dout, rank=8, scale=2.0):
        super().__init__()
        self.linear = nn.Linear(din, dout)
        bound = 1.0 / np.sqrt(din)
        self.lora_a = mx.random.uniform(-bound, bound, (din, rank))
        self.lora_b = mx.zeros((rank, dout))
        self.scale = scale

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.mix = LoRALinear(2 * DIM, DIM)
        self.head = LoRALinear(DIM, VOCAB)

    def __call__(self, x):
        h = self.embed(x)
        prev = mx.concatenate([mx.zeros_like(h[:, :1]), h[:, :-1]], axis=1)
        h = nn.gelu(self.mix(mx.concatenate([h, prev], axis=-1)))
        return self.head(h)


def make_split(rng, n):
    # "instruction" token followed by a deterministic response pattern
    data = []
    for _ in range(n):
        key = rng.integers(1, 8)
        start = rng.integers(8, VOCAB)
        seq = [key] + [8 + (start - 8 + key * i) % (VOCAB - 8) for i in range(SEQ)]
        data.append(seq)
    return np.array(data, dtype=np.int32)


def iterate_batches(dset, batch_size, train=False):
    while True:
        idx = np.random.permutation(len(dset)) if train else np.arange(len(dset))
        for i in range(0, len(idx) - batch_size + 1, batch_size):
            b = dset[idx[i : i + batch_size]]
            yield mx.array(b[:, :-1]), mx.array(b[:, 1:]), mx.full((batch_size,), SEQ)
        if not train:
            break


def loss(model, inputs, targets, lengths):
    logits = model(inputs)
    mask = mx.arange(inputs.shape[1])[None, :] < lengths[:, None]
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    return ce.sum() / ntoks, ntoks


def evaluate(model, dataset, batch_size, num_batches):
    all_losses, ntokens = [], 0
    for it, batch in zip(range(num_batches), iterate_batches(dataset, batch_size)):
        l, t = loss(model, *batch)
        all_losses.append((l * t).item())
        ntokens += t.item()
    return np.sum(all_losses) / ntokens


def train_model(model, train_set, val_set, optimizer, iters, batch_size,
                steps_per_report, steps_per_eval, val_batches, save_every, adapter_file):
    loss_value_and_grad = nn.value_and_grad(model, loss)
    losses, n_tokens = [], 0
    start = time.perf_counter()
    for it, batch in zip(range(iters), iterate_batches(train_set, batch_size, train=True)):
        (lvalue, toks), grad = loss_value_and_grad(model, *batch)
        optimizer.update(model, grad)
        mx.eval(model.parameters(), optimizer.state, lvalue)

        losses.append(lvalue.item())
        n_tokens += toks.item()

        if (it + 1) % steps_per_report == 0:
            stop = time.perf_counter()
            print(f"Iter {it + 1:03d}: Train loss {np.mean(losses):.3f}, "
                  f"It/sec {steps_per_report / (stop - start):.3f}, "
                  f"Tokens/sec {float(n_tokens) / (stop - start):.3f}")
            losses, n_tokens = [], 0
            start = time.perf_counter()

        if it == 0 or (it + 1) % steps_per_eval == 0:
            stop = time.perf_counter()
            val_loss = evaluate(model, val_set, batch_size, val_batches)
            epoch = (it * batch_size) // len(train_set)
            print(f"Epoch {epoch + 1}: Iter {it + 1}: Val loss {val_loss:.3f}, "
                  f"Val took {(time.perf_counter() - stop):.3f}s")
            start = time.perf_counter()

        if (it + 1) % save_every == 0:
            mx.savez(adapter_file, **dict(tree_flatten(model.trainable_parameters())))
            a, b = adapter_file.rsplit(".", 1)
            fn = f"{a}-{it + 1:03d}.{b}"
            mx.savez(fn, **dict(tree_flatten(model.trainable_parameters())))
            print(f"Iter {it + 1}: Saved adapter weights to {fn}.")


def main():
    np.random.seed(3)
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    train_set, val_set = make_split(rng, 512), make_split(rng, 64)

    model = TinyLM()
    # pretend-pretrained base: freeze everything, then unfreeze the adapters
    model.freeze()
    model.mix.unfreeze(keys=["lora_a", "lora_b"])
    model.head.unfreeze(keys=["lora_a", "lora_b"])
    p = sum(v.size for _, v in tree_flatten(model.parameters())) / 1e3
    t = sum(v.size for _, v in tree_flatten(model.trainable_parameters())) / 1e3
    print(f"Total parameters {p:.3f}K")
    print(f"Trainable parameters {t:.3f}K")

    home = tempfile.mkdtemp(prefix="ilab_home_")
    ckpt_dir = os.path.join(home, ".local", "share", "instructlab", "checkpoints")
    os.makedirs(ckpt_dir, exist_ok=True)
    adapter_file = os.path.join(ckpt_dir, "adapters.npz")

    print("Training")
    try:
        train_model(model, train_set, val_set, optim.Adam(learning_rate=1e-2),
                    iters=300, batch_size=16, steps_per_report=25, steps_per_eval=100,
                    val_batches=4, save_every=50, adapter_file=adapter_file)
        print(f"Saved final adapter weights to {adapter_file}.")
        print("checkpoints:", sorted(os.listdir(ckpt_dir)))
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
