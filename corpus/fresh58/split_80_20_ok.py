"""Local 'generate -> make_data -> lora train' flow, shrunk to a toy.

1. a synthetic-data step writes train_gen.jsonl (here: 9 Q/A pairs),
2. make_data() formats them with a chat template and splits 80/20 into
   train.jsonl / valid.jsonl,
3. the trainer loads the splits and fine-tunes a small char-level LM with
   low-rank adapters on a frozen base (mlx-examples lora.py style loop).
"""
import json
import os
import tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SYS_PROMPT = "you are a careful assistant."


def format_text(obj):
    return f"<|system|>{obj['system']}<|user|>{obj['user']}<|assistant|>{obj['assistant']}<|end|>"


def write_generated(data_dir):
    pairs = [("capital of france?", "paris."), ("capital of italy?", "rome."),
             ("capital of spain?", "madrid."), ("capital of peru?", "lima."),
             ("capital of chile?", "santiago."), ("capital of japan?", "tokyo."),
             ("capital of egypt?", "cairo."), ("capital of kenya?", "nairobi."),
             ("capital of cuba?", "havana.")]
    with open(f"{data_dir}/train_gen.jsonl", "w") as f:
        for q, a in pairs:
            f.write(json.dumps({"user": q, "assistant": a}) + "\n")


def make_data(data_dir):
    fn = f"{data_dir}/train_gen.jsonl"
    with open(fn) as f:
        data = [json.loads(line) for line in f]
    data_new = []
    for obj in data:
        obj_new = {"system": SYS_PROMPT, "user": obj["user"], "assistant": obj["assistant"]}
        data_new.append(obj_new | {"text": format_text(obj_new)})
    n = len(data_new) * 8 // 10
    with open(f"{data_dir}/train.jsonl", "w") as f:
        for obj in data_new[:n]:
            f.write(json.dumps(obj) + "\n")
    with open(f"{data_dir}/valid.jsonl", "w") as f:
        for obj in data_new[n:]:
            f.write(json.dumps(obj) + "\n")


def load(data_dir):
    def read(name):
        with open(f"{data_dir}/{name}.jsonl") as f:
            return [json.loads(l)["text"] for l in f if l.strip()]
    train, valid = read("train"), read("valid")
    if len(train) == 0:
        raise ValueError("Training set not found or empty. Must provide training set for fine-tuning.")
    if len(valid) == 0:
        raise ValueError("Validation set not found or empty. Must provide validation set for fine-tuning.")
    return train, valid


class LoRALinear(nn.Module):
    def __init__(self, linear, r=8):
        super().__init__()
        out_d, in_d = linear.weight.shape
        self.linear = linear
        self.lora_a = mx.random.uniform(-1 / in_d ** 0.5, 1 / in_d ** 0.5, (in_d, r))
        self.lora_b = mx.zeros((r, out_d))

    def __call__(self, x):
        return self.linear(x) + 2.0 * ((x @ self.lora_a) @ self.lora_b)


class CharLM(nn.Module):
    def __init__(self, vocab, dim=256):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.l1 = nn.Linear(dim, dim)
        self.l2 = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, vocab)

    def __call__(self, x):
        h = self.emb(x)
        # causal "bag of previous chars" mixing keeps it tiny but contextual
        T = x.shape[1]
        mask = mx.tril(mx.ones((T, T))) / mx.arange(1, T + 1)[:, None]
        h = h + mask @ h
        h = nn.gelu(self.l1(h))
        h = nn.gelu(self.l2(h)) + h
        return self.head(h)


def iterate_batches(dset, stoi, batch_size, train=False):
    while True:
        indices = np.arange(len(dset))
        if train:
            indices = np.random.permutation(indices)
        for i in range(0, len(indices) - batch_size + 1, batch_size):
            batch = [[stoi[c] for c in dset[indices[i + j]]] for j in range(batch_size)]
            lengths = [len(b) for b in batch]
            arr = np.zeros((batch_size, max(lengths)), np.int32)
            for j in range(batch_size):
                arr[j, :lengths[j]] = batch[j]
            arr = mx.array(arr)
            yield arr[:, :-1], arr[:, 1:], mx.array(lengths)
        if not train:
            break


def loss_fn(model, inp, tgt, lengths):
    logits = model(inp)
    mask = mx.arange(inp.shape[1])[None, :] < (lengths[:, None] - 1)
    ce = nn.losses.cross_entropy(logits, tgt) * mask
    return ce.sum() / mask.sum()


np.random.seed(0)
mx.random.seed(0)
with tempfile.TemporaryDirectory() as data_dir:
    write_generated(data_dir)
    make_data(data_dir)
    train_set, valid_set = load(data_dir)
print(f"{len(train_set)} train / {len(valid_set)} valid examples")

alphabet = sorted(set("".join(train_set + valid_set)))
stoi = {c: i for i, c in enumerate(alphabet)}
model = CharLM(len(alphabet))
model.freeze()
model.l1 = LoRALinear(model.l1)
model.l2 = LoRALinear(model.l2)
model.head.unfreeze()
mx.eval(model.parameters())
n_tr = sum(v.size for _, v in __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(model.trainable_parameters()))
print(f"trainable params: {n_tr}")

opt = optim.Adam(learning_rate=2e-3)
lg = nn.value_and_grad(model, loss_fn)
batches = iterate_batches(train_set, stoi, 2, train=True)
vl = [loss_fn(model, *b).item() for b in iterate_batches(valid_set, stoi, 1)]
print(f"Iter 0: val loss {np.mean(vl):.3f}")
for it in range(1, 201):
    inp, tgt, lengths = next(batches)
    loss, grads = lg(model, inp, tgt, lengths)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 25 == 0:
        vl = [loss_fn(model, *b).item() for b in iterate_batches(valid_set, stoi, 1)]
        print(f"Iter {it}: train loss {loss.item():.3f}, val loss {np.mean(vl):.3f}")
