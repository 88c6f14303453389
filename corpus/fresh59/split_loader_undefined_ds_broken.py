"""Fine-tune a tiny word-level LM on a local JSONL corpus, with the data loading
helper copied from an mlx_lm-style tuner (splits given as 'train[:80%]' strings)."""
import atexit
import json
import os
import random
import re
import shutil
import tempfile
import time
from types import SimpleNamespace

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(0)
np.random.seed(0)
mx.random.seed(0)

# ---------------------------------------------------------------- corpus on disk
WORDS = {
    "who": ["the farmer", "a sailor", "my aunt", "the baker", "an old dog"],
    "did": ["carried", "painted", "sold", "found", "dropped"],
    "what": ["a basket", "the fence", "two loaves", "a blue kite", "the map"],
    "where": ["at the market", "by the sea", "in the barn", "on the road", "near home"],
}
rows = [
    {"text": " ".join(random.choice(WORDS[k]) for k in ("who", "did", "what", "where"))}
    for _ in range(1500)
]
workdir = tempfile.mkdtemp(prefix="tinylm_")
atexit.register(shutil.rmtree, workdir, True)
with open(os.path.join(workdir, "data.jsonl"), "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")


def load_split(path, split):
    """Minimal stand-in for datasets.load_dataset(..., split='train[a%:b%]')."""
    with open(os.path.join(path, "data.jsonl")) as f:
        data = [json.loads(line) for line in f]
    m = re.fullmatch(r"train\[(-?\d*)%?:(-?\d*)%?\]", split)
    n = len(data)
    lo = int(m.group(1)) * n // 100 if m.group(1) else 0
    hi = int(m.group(2)) * n // 100 if m.group(2) else n
    return data[lo:hi]


class Dataset:
    def __init__(self, data, tokenizer, text_key="text"):
        self._data = [tokenizer.encode(d[text_key]) for d in data]

    def __getitem__(self, idx):
        return self._data[idx]

    def __len__(self):
        return len(self._data)


class WordTokenizer:
    def __init__(self):
        vocab = sorted({w for opts in WORDS.values() for o in opts for w in o.split()})
        self.bos = 0
        self.stoi = {w: i + 1 for i, w in enumerate(vocab)}

    def encode(self, s):
        return [self.bos] + [self.stoi[w] for w in s.split()]


def load_custom_dataset(args, tokenizer):
    hf_args = args.hf_dataset
    text_feature = hf_args.get("text_feature")
    print(f"Loading dataset {hf_args['path']}.")

    def create_dataset(split=None):
        ds = load_split(hf_args["path"], split)
        if text_feature:
            return Dataset(train_ds, tokenizer, text_key=text_feature)
        raise ValueError("Specify a text feature for the dataset.")

    train = create_dataset(split=hf_args.get("train_split", "train[:80%]"))
    valid = create_dataset(split=hf_args.get("valid_split", "train[-10%:]"))
    return train, valid


# ---------------------------------------------------------------- model / training
class ContextMLP(nn.Module):
    """Predict the next word from the previous two."""

    def __init__(self, vocab, d=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.mlp = nn.Sequential(nn.Linear(2 * d, 128), nn.ReLU(), nn.Linear(128, vocab))

    def __call__(self, ctx):
        e = self.emb(ctx)
        return self.mlp(e.reshape(e.shape[0], -1))


def windows(dataset):
    xs, ys = [], []
    for toks in dataset:
        padded = [0] + toks
        for t in range(2, len(padded)):
            xs.append(padded[t - 2 : t])
            ys.append(padded[t])
    return mx.array(np.array(xs, np.int32)), mx.array(np.array(ys, np.int32))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


args = SimpleNamespace(
    hf_dataset={"path": workdir, "text_feature": "text",
                "train_split": "train[:80%]", "valid_split": "train[-10%:]"},
    iters=3000, batch_size=64, steps_per_report=500,
)
tokenizer = WordTokenizer()
train_set, valid_set = load_custom_dataset(args, tokenizer)
Xtr, Ytr = windows(train_set)
Xva, Yva = windows(valid_set)
print(f"train windows {Xtr.shape[0]}, valid windows {Xva.shape[0]}")

model = ContextMLP(len(tokenizer.stoi) + 1)
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
step = nn.value_and_grad(model, loss_fn)
t0 = time.perf_counter()
for it in range(1, args.iters + 1):
    ids = mx.array(np.random.randint(0, Xtr.shape[0], args.batch_size))
    loss, grads = step(model, Xtr[ids], Ytr[ids])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it == 1 or it % args.steps_per_report == 0:
        val = loss_fn(model, Xva, Yva).item()
        print(f"Iter {it}: Train loss {loss.item():.3f}, Val loss {val:.3f}, "
              f"{time.perf_counter() - t0:.1f}s")
