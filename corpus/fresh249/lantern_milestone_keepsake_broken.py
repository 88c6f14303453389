# Char-level LoRA fine-tune of a tiny pretrained transformer, with the
# training loop taken from mlx_lm.tuner.trainer (early 2024) and a small
# runner that restarts from the saved adapter if a run stops early.
import os
import tempfile
import time
from dataclasses import dataclass, field

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten


# ----------------------------------------------------------------- trainer
@dataclass
class TrainingArgs:
    lora_layers: int = field(default=2)
    batch_size: int = field(default=4)
    iters: int = field(default=100)
    val_batches: int = field(default=25)
    steps_per_report: int = field(default=10)
    steps_per_eval: int = field(default=200)
    steps_per_save: int = field(default=100)
    max_seq_length: int = field(default=2048)
    adapter_file: str = field(default="adapter.npz")


def default_loss(model, inputs, targets, lengths):
    logits, _ = model(inputs)
    logits = logits.astype(mx.float32)

    length_mask = mx.arange(inputs.shape[1])[None, :] < lengths[:, None]

    ce = nn.losses.cross_entropy(logits, targets) * length_mask
    ntoks = length_mask.sum()
    ce = ce.sum() / ntoks

    return ce, ntoks


def iterate_batches(dataset, tokenizer, batch_size, max_seq_length, train=False):
    while True:
        # Shuffle indices
        indices = np.arange(len(dataset))
        indices = np.random.permutation(indices)
        # Collect batches from dataset
        for i in range(0, len(indices) - batch_size + 1, batch_size):
            # Encode batch
            batch = [
                tokenizer.encode(dataset[indices[i + j]]) for j in range(batch_size)
            ]
            lengths = [len(x) for x in batch]

            # Pad to the max length
            max_length_in_batch = min(max(lengths), max_seq_length)
            batch_arr = np.zeros((batch_size, max_length_in_batch), np.int32)

            for j in range(batch_size):
                truncated_length = min(lengths[j], max_seq_length)
                batch_arr[j, :truncated_length] = batch[j][:truncated_length]
                lengths[j] = truncated_length
            batch = mx.array(batch_arr)

            yield batch[:, :-1], batch[:, 1:], mx.array(lengths)

        if not train:
            break


def evaluate(model, dataset, tokenizer, batch_size, num_batches,
             max_seq_length=2048, loss=default_loss):
    all_losses = []
    ntokens = 0
    for it, batch in zip(
        range(num_batches),
        iterate_batches(dataset=dataset, tokenizer=tokenizer,
                        batch_size=batch_size, max_seq_length=max_seq_length),
    ):
        losses, toks = loss(model, *batch)
        all_losses.append((losses * toks).item())
        ntokens += toks.item()

    return np.sum(all_losses) / ntokens


def train(model, tokenizer, optimizer, train_dataset, val_dataset,
          args: TrainingArgs = TrainingArgs(), loss=default_loss):
    # Create value and grad function for loss
    loss_value_and_grad = nn.value_and_grad(model, loss)

    losses = []
    n_tokens = 0
    print("Starting training..., iters:", args.iters)
    # Main training loop
    start = time.perf_counter()
    for it, batch in zip(
        range(args.iters),
        iterate_batches(dataset=train_dataset, tokenizer=tokenizer,
                        batch_size=args.batch_size,
                        max_seq_length=args.max_seq_length, train=True),
    ):
        # Forward and backward pass
        (lvalue, toks), grad = loss_value_and_grad(model, *batch)

        # Model update
        optimizer.update(model, grad)

        mx.eval(model.parameters(), optimizer.state, lvalue)

        # Record loss
        losses.append(lvalue.item())
        n_tokens += toks.item()

        # Report training loss if needed
        if (it + 1) % args.steps_per_report == 0:
            train_loss = np.mean(losses)

            stop = time.perf_counter()
            print(
                f"Iter {it + 1}: Train loss {train_loss:.3f}, "
                f"It/sec {args.steps_per_report / (stop - start):.3f}, "
                f"Tokens/sec {float(n_tokens) / (stop - start):.3f}"
            )
            losses = []
            n_tokens = 0
            start = time.perf_counter()

        # Report validation loss if needed
        if it == 0 or (it + 1) % args.steps_per_eval == 0:
            stop = time.perf_counter()
            val_loss = evaluate(
                model=model, dataset=val_dataset, loss=loss,
                tokenizer=tokenizer, batch_size=args.batch_size,
                num_batches=args.val_batches,
                max_seq_length=args.max_seq_length,
            )
            print(
                f"Iter {it + 1}: "
                f"Val loss {val_loss:.3f}, "
                f"Val took {(time.perf_counter() - stop):.3f}s"
            )

            start = time.perf_counter()

            # Save adapter weights if needed
            if (it + 1) % args.steps_per_save == 0:
                save_adapter(model=model, adapter_file=args.adapter_file)
                print(
                    f"Iter {it + 1}: Saved adapter weights to {os.path.join(args.adapter_file)}."
                )
    # save final adapter weights
    save_adapter(model=model, adapter_file=args.adapter_file)
    print(f"Saved final adapter weights to {os.path.join(args.adapter_file)}.")


def save_adapter(model: nn.Module, adapter_file: str):
    flattened_tree = tree_flatten(model.trainable_parameters())
    mx.savez(adapter_file, **dict(flattened_tree))


# ------------------------------------------------------------------ model
class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear: nn.Linear, rank: int = 8):
        out_dims, in_dims = linear.weight.shape
        lora = LoRALinear(in_dims, out_dims, rank)
        lora.linear = linear
        return lora

    def __init__(self, in_dims, out_dims, rank=8, scale=2.0):
        super().__init__()
        self.linear = nn.Linear(in_dims, out_dims, bias=False)
        self.scale = scale
        bound = 1.0 / np.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, rank))
        self.lora_b = mx.zeros((rank, out_dims))

    def __call__(self, x):
        y = self.linear(x)
        z = (x @ self.lora_a) @ self.lora_b
        return y + self.scale * z


class Attention(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dims, dims, bias=False)
        self.k_proj = nn.Linear(dims, dims, bias=False)
        self.v_proj = nn.Linear(dims, dims, bias=False)
        self.o_proj = nn.Linear(dims, dims, bias=False)

    def __call__(self, x, mask):
        B, L, D = x.shape
        h = self.heads
        q = self.q_proj(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        k = self.k_proj(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        v = self.v_proj(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        o = mx.fast.scaled_dot_product_attention(
            q, k, v, scale=q.shape[-1] ** -0.5, mask=mask)
        return self.o_proj(o.transpose(0, 2, 1, 3).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.self_attn = Attention(dims, heads)
        self.ln1 = nn.RMSNorm(dims)
        self.ln2 = nn.RMSNorm(dims)
        self.mlp = nn.Sequential(nn.Linear(dims, 2 * dims), nn.GELU(),
                                 nn.Linear(2 * dims, dims))

    def __call__(self, x, mask):
        x = x + self.self_attn(self.ln1(x), mask)
        return x + self.mlp(self.ln2(x))


class TinyLM(nn.Module):
    def __init__(self, vocab, dims=32, heads=2, layers=2, max_len=64):
        super().__init__()
        self.embed = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(max_len, dims)
        self.layers = [Block(dims, heads) for _ in range(layers)]
        self.norm = nn.RMSNorm(dims)
        self.head = nn.Linear(dims, vocab, bias=False)

    def __call__(self, x):
        L = x.shape[1]
        h = self.embed(x) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L).astype(h.dtype)
        for layer in self.layers:
            h = layer(h, mask)
        return self.head(self.norm(h)), None


# ------------------------------------------------------------------- data
class CharTokenizer:
    def __init__(self, alphabet):
        self.stoi = {c: i + 1 for i, c in enumerate(alphabet)}  # 0 = pad

    @property
    def vocab_size(self):
        return len(self.stoi) + 1

    def encode(self, text):
        return [self.stoi[c] for c in text]


ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 .,:;-'"
rng = np.random.default_rng(7)
animals = ["fox", "owl", "hare", "wren", "otter", "badger", "heron", "vole"]
verbs = ["runs", "sleeps", "hunts", "waits", "sings", "swims", "digs"]
places = ["by the river", "in the wood", "on the hill", "near the barn"]
items = ["apples", "pears", "plums", "eggs", "loaves", "candles", "jars"]


def general_line():
    return (f"the {rng.choice(animals)} {rng.choice(verbs)} "
            f"{rng.choice(places)}.")


def ledger_line():
    a, b = rng.choice(items, 2, replace=False)
    n, m = rng.integers(1, 10, 2)
    return f"stall {rng.integers(10, 99)}: {n} {a}, {m} {b}; paid."


pretrain_text = [general_line() for _ in range(1200)]
ledger_train = [ledger_line() for _ in range(600)]
ledger_valid = [ledger_line() for _ in range(120)]
ledger_test = [ledger_line() for _ in range(120)]
ledger_train[405] = "stall 41: 3 crêpes, 2 jars; paid."

tok = CharTokenizer(ALPHABET)

# ------------------------------------------------------ base pretraining
mx.random.seed(0)
np.random.seed(0)
model = TinyLM(tok.vocab_size)
base_opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
base_step = nn.value_and_grad(model, default_loss)
t0 = time.perf_counter()
for i, batch in zip(range(200), iterate_batches(pretrain_text, tok, 8, 64, train=True)):
    (l, _), g = base_step(model, *batch)
    base_opt.update(model, g)
    mx.eval(model.parameters(), base_opt.state)
    if (i + 1) % 50 == 0:
        print(f"base step {i + 1}: loss {l.item():.3f}")
print(f"base model ready in {time.perf_counter() - t0:.1f}s")

base_val = evaluate(model, ledger_valid, tok, 4, 10, 64)
print(f"ledger val loss before fine-tuning {base_val:.3f} (ppl {np.exp(base_val):.2f})")

# ------------------------------------------------------------ fine-tune
model.freeze()
for layer in model.layers[-2:]:
    layer.self_attn.q_proj = LoRALinear.from_linear(layer.self_attn.q_proj, rank=4)
    layer.self_attn.v_proj = LoRALinear.from_linear(layer.self_attn.v_proj, rank=4)
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"Trainable parameters {n_train} of {n_all}")

workdir = tempfile.mkdtemp(prefix="ledger_lora_")
args = TrainingArgs(
    batch_size=4, iters=120, val_batches=10, steps_per_report=10,
    steps_per_eval=40, steps_per_save=25, max_seq_length=64,
    adapter_file=os.path.join(workdir, "adapters.npz"),
)
opt = optim.Adam(learning_rate=2e-3)

try:
    train(model, tok, opt, ledger_train, ledger_valid, args)
except KeyError as e:
    print(f"run stopped: character {e} is not in the vocabulary")
    ledger_train = [t for t in ledger_train if all(c in tok.stoi for c in t)]
    print(f"kept {len(ledger_train)} clean lines, resuming from {args.adapter_file}")
    model.load_weights(args.adapter_file, strict=False)
    resumed = evaluate(model, ledger_valid, tok, 4, 10, 64)
    print(f"resumed adapter val loss {resumed:.3f}")
    opt = optim.Adam(learning_rate=2e-3)
    train(model, tok, opt, ledger_train, ledger_valid, args)

test_loss = evaluate(model, ledger_test, tok, 4, 10, 64)
print(f"Test loss {test_loss:.3f}, Test ppl {np.exp(test_loss):.3f}")
