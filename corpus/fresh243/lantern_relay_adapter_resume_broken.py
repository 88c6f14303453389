"""Lantern relay stations: LoRA fine-tune of a tiny next-signal model.

Round 1 trains adapters for the new relay code book from scratch, round 2 picks
them up again (``adapter=...``) and keeps training with a lower learning rate.
The base model is pretrained quietly on the old code book first.
"""
import math
import tempfile
from pathlib import Path
from pprint import pprint
from types import SimpleNamespace

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

VOCAB = 48
CTX = 6

CONFIG_DEFAULTS = {
    "batch_size": 32,
    "iters": 300,
    "learning_rate": 1e-3,
    "steps_per_report": 50,
    "steps_per_eval": 100,
    "val_batches": 8,
    "resume_adapter_file": None,
    "test": True,
    "test_batches": 16,
    "seed": 0,
    "lora_layers": 2,
    "lora_parameters": {"rank": 8, "alpha": 16, "dropout": 0.0, "scale": 2.0},
}


# ----------------------------------------------------------------- data
def relay_stream(n_seq, shift, seed):
    """Each station re-sends the previous two signals mixed by a code book."""
    rng = np.random.default_rng(seed)
    seqs = np.zeros((n_seq, CTX + 1), dtype=np.int32)
    seqs[:, :2] = rng.integers(0, VOCAB, size=(n_seq, 2))
    for t in range(2, CTX + 1):
        seqs[:, t] = (3 * seqs[:, t - 1] + seqs[:, t - 2] + shift) % VOCAB
    noise = rng.random(seqs.shape) < 0.03
    seqs[noise] = rng.integers(0, VOCAB, size=int(noise.sum()))
    return seqs


def batches(data, batch_size, seed):
    rng = np.random.default_rng(seed)
    while True:
        idx = rng.permutation(len(data))
        for i in range(0, len(idx) - batch_size + 1, batch_size):
            b = mx.array(data[idx[i:i + batch_size]])
            yield b[:, :-1], b[:, 1:]


# ----------------------------------------------------------------- model
class RelayLM(nn.Module):
    def __init__(self, dims=64):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(CTX, dims)
        self.layers = [nn.Linear(2 * dims, dims), nn.Linear(dims, dims)]
        self.norm = nn.LayerNorm(dims)
        self.head = nn.Linear(dims, VOCAB)

    def __call__(self, x):
        h = self.embed(x) + self.pos(mx.arange(x.shape[1]))
        prev = mx.concatenate([mx.zeros_like(h[:, :1]), h[:, :-1]], axis=1)
        h = nn.gelu(self.layers[0](mx.concatenate([h, prev], axis=-1)))
        h = h + nn.gelu(self.layers[1](h))
        return self.head(self.norm(h))


class LoRALinear(nn.Module):
    @staticmethod
    def from_base(linear, rank, alpha, dropout, scale):
        out_dims, in_dims = linear.weight.shape
        lora = LoRALinear(in_dims, out_dims, rank, alpha, dropout, scale)
        lora.linear = linear
        return lora

    def __init__(self, in_dims, out_dims, rank=8, alpha=16, dropout=0.0, scale=2.0):
        super().__init__()
        self.linear = nn.Linear(in_dims, out_dims)
        self.dropout = nn.Dropout(p=dropout)
        self.scale = scale * (alpha / rank) / 2.0
        bound = 1.0 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, rank))
        self.lora_b = mx.zeros((rank, out_dims))

    def __call__(self, x):
        y = self.linear(x)
        z = (self.dropout(x) @ self.lora_a) @ self.lora_b
        return y + self.scale * z


def linear_to_lora_layers(model, num_layers, params):
    for i in range(len(model.layers) - num_layers, len(model.layers)):
        model.layers[i] = LoRALinear.from_base(model.layers[i], **params)
    model.head = LoRALinear.from_base(model.head, **params)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, data, num_batches, batch_size, seed=123):
    it = batches(data, batch_size, seed)
    tot = 0.0
    for _ in range(num_batches):
        x, y = next(it)
        tot += loss_fn(model, x, y).item()
    return tot / num_batches


def save_adapters(model, path):
    mx.save_safetensors(str(path), dict(tree_flatten(model.trainable_parameters())))


def train(model, opt, train_set, valid_set, args, adapter_file, tag):
    lvg = nn.value_and_grad(model, loss_fn)
    it = batches(train_set, args.batch_size, args.seed)
    losses = []
    for step in range(1, args.iters + 1):
        x, y = next(it)
        loss, grads = lvg(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
        if step % args.steps_per_report == 0:
            print(f"[{tag}] Iter {step}: Train loss {np.mean(losses):.3f}, "
                  f"Learning Rate {opt.learning_rate.item():.3e}")
            losses = []
        if step % args.steps_per_eval == 0 or step == args.iters:
            val = evaluate(model, valid_set, args.val_batches, args.batch_size)
            print(f"[{tag}] Iter {step}: Val loss {val:.3f}")
    save_adapters(model, adapter_file)
    print(f"[{tag}] Saved adapter weights to {adapter_file}.")


# ----------------------------------------------------------------- driver
def main(config, base_file, data, adapter=None, tag="run"):
    param_dict = {k: v for k, v in config.items()}
    for key, default in CONFIG_DEFAULTS.items():
        if key not in param_dict:
            param_dict[key] = default
    if adapter:
        param_dict["adapter_path"] = adapter
    pprint(param_dict)
    args = SimpleNamespace(**param_dict)
    mx.random.seed(args.seed)

    train_set, valid_set, test_set = data
    model = RelayLM()
    model.load_weights(str(base_file))
    model.freeze()
    linear_to_lora_layers(model, args.lora_layers, args.lora_parameters)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"[{tag}] Trainable parameters: {100 * n_train / n_all:.3f}% ({n_train}/{n_all})")

    if args.resume_adapter_file is not None:
        print(f"[{tag}] Loading pretrained adapters from {args.resume_adapter_file}")
        model.load_weights(args.resume_adapter_file, strict=False)

    adapter_path = Path(args.adapter_path)
    adapter_path.mkdir(parents=True, exist_ok=True)
    adapter_file = adapter_path / "adapters.safetensors"

    start = evaluate(model, valid_set, args.val_batches, args.batch_size)
    print(f"[{tag}] Starting training..., iters: {args.iters}, Val loss {start:.3f}")
    model.train()
    opt = optim.Adam(learning_rate=args.learning_rate)
    train(model, opt, train_set, valid_set, args, adapter_file, tag)

    if not adapter_file.is_file():
        raise ValueError(f"Adapter file {adapter_file} missing.")
    model.load_weights(str(adapter_file), strict=False)
    print(f"[{tag}] Loaded weights from {args.adapter_file}")

    if args.test:
        model.eval()
        test_loss = evaluate(model, test_set, args.test_batches, args.batch_size, seed=7)
        print(f"[{tag}] Test loss {test_loss:.3f}, Test ppl {math.exp(test_loss):.3f}.")
    return adapter_file


def pretrain_base(path):
    mx.random.seed(1)
    model = RelayLM()
    data = relay_stream(4000, shift=5, seed=10)
    opt = optim.Adam(learning_rate=3e-3)
    lvg = nn.value_and_grad(model, loss_fn)
    it = batches(data, 64, 0)
    for _ in range(600):
        x, y = next(it)
        loss, grads = lvg(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
    model.save_weights(str(path))
    return loss.item()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="relay_") as tmp:
        work = Path(tmp)
        base_file = work / "base.safetensors"
        print(f"Pretraining base relay model (old code book) -> {base_file}")
        print(f"  base final batch loss {pretrain_base(base_file):.3f}")

        data = (relay_stream(3000, shift=17, seed=20),
                relay_stream(400, shift=17, seed=21),
                relay_stream(400, shift=17, seed=22))

        round1 = {"adapter_path": str(work / "round1"), "iters": 300, "learning_rate": 2e-3}
        first = main(round1, base_file, data, tag="round1")

        round2 = {"adapter_path": str(work / "round2"), "iters": 200, "learning_rate": 5e-4,
                  "seed": 1}
        main(round2, base_file, data, adapter=str(first), tag="round2")
    print("done")
