"""Harbor ledger language model: batch-size sweep.

A tiny causal transformer is trained on synthetic harbor-master ledger lines
(ship, cargo, tonnage, berth). The script sweeps the batch size, trains a
fresh model for each setting and keeps the one with the best validation loss.
"""
import json
import os
import random
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SHIPS = ["Aurora", "Blue Heron", "Calypso", "Dunmore", "Esperanza", "Fulmar",
         "Gannet", "Halcyon", "Iris", "Juniper", "Kestrel", "Lodestar"]
CARGO = ["coal", "timber", "grain", "salt", "wool", "tea", "iron ore", "cod"]
PORTS = ["Leith", "Bergen", "Riga", "Cork", "Hull", "Gdansk", "Brest"]


def ledger_line(rng):
    ship = rng.choice(SHIPS)
    cargo = rng.choice(CARGO)
    tons = rng.randint(40, 900)
    berth = rng.randint(1, 14)
    port = rng.choice(PORTS)
    day = rng.randint(1, 28)
    return (f"{day:02d} {ship} from {port}, {tons} t {cargo}, berth {berth}; "
            f"dues paid {tons // 10 + berth} s.")


def write_jsonl(path, n_docs, seed, lines_per_doc):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(n_docs):
            text = " ".join(ledger_line(rng) for _ in range(lines_per_doc))
            f.write(json.dumps({"text": text}) + "\n")


class CharTokenizer:
    def __init__(self):
        chars = sorted(set(" abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,.;"))
        self.stoi = {c: i + 3 for i, c in enumerate(chars)}
        self.PAD_TOKEN, self.BOS_TOKEN, self.EOS_TOKEN = 0, 1, 2
        self.vocab_size = len(chars) + 3

    def tokenize(self, text):
        return [self.stoi[c] for c in text if c in self.stoi]

    def tokenize_doc(self, doc, max_length=1000000):
        return [self.BOS_TOKEN] + self.tokenize(doc)[:max_length] + [self.EOS_TOKEN]


class DataManager:
    def __init__(self, config, tokenizer, batch_size=1):
        self.config = config
        self.tokenizer = tokenizer
        self.train_docs = []
        self.val_docs = []
        self.train_idx = None
        self.val_idx = None
        self.batch_size = batch_size
        self.load_data()

    def load_data(self):
        self._load_file(self.config["input_file"], self.train_docs)

        self.train_idx = sorted(range(len(self.train_docs)), key=lambda idx: len(self.train_docs[idx]))
        random.shuffle(self.train_idx)
        self.train_batch_idx = [
            self.train_idx[i : i + self.batch_size : 1]
            for i in range(0, len(self.train_idx) - self.batch_size + 1, self.batch_size)
        ]
        self.train_indices = np.random.permutation(len(self.train_batch_idx))

        if self.config["validation_file"]:
            self._load_file(self.config["validation_file"], self.val_docs)

            # Set up validation batches
            self.val_idx = sorted(range(len(self.val_docs)), key=lambda idx: len(self.val_docs[idx]))
            self.val_batch_idx = [
                self.val_idx[i : i + self.batch_size : 1]
                for i in range(0, len(self.val_idx) - self.batch_size + 1, self.batch_size)
            ]
            self.val_indices = np.random.permutation(len(self.val_batch_idx))
            self.val_ptr = 0

    def _load_file(self, file_path, docs_list):
        with open(file_path, "r") as f:
            for line in f:
                d = json.loads(line)
                text = d["text"]
                chunk_size = self.config["max_context_size"]
                overlap = self.config.get("chunk_overlap", 0)
                stride = chunk_size - overlap
                for i in range(0, len(text), stride):
                    docs_list.append(text[i : i + chunk_size])

    def generate_batch(self, step):
        indices = self.train_batch_idx[self.train_indices[step % len(self.train_indices)]]
        return self._create_batch([self.train_docs[i] for i in indices])

    def generate_validation_batch(self, batch_idx):
        if not self.config["validation_file"] or batch_idx >= len(self.val_batch_idx):
            raise ValueError("No validation data available or batch index out of range")
        indices = self.val_batch_idx[self.val_indices[self.val_ptr % len(self.val_indices)]]
        self.val_ptr += 1
        return self._create_batch([self.val_docs[i] for i in indices])

    def _create_batch(self, docs):
        batch = [self.tokenizer.tokenize_doc(doc) for doc in docs]
        max_len = max(len(x) for x in batch)
        max_len = min(max_len, self.config["max_context_size"] + 2)
        for i in range(len(batch)):
            if len(batch[i]) > max_len:
                batch[i] = batch[i][:max_len]
            batch[i] += [self.tokenizer.PAD_TOKEN] * (max_len - len(batch[i]))
        return mx.array(batch)

    @property
    def has_validation_data(self):
        return self.config["validation_file"] is not None and len(self.val_docs) > 0

    @property
    def num_validation_batches(self):
        return len(self.val_batch_idx) if self.has_validation_data else 0


class Block(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dims)
        self.attn = nn.MultiHeadAttention(dims, heads)
        self.ln2 = nn.LayerNorm(dims)
        self.mlp = nn.Sequential(nn.Linear(dims, 4 * dims), nn.GELU(), nn.Linear(4 * dims, dims))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln2(x))


class LedgerLM(nn.Module):
    def __init__(self, vocab, dims=48, heads=4, layers=1, max_len=128):
        super().__init__()
        self.tok = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(max_len, dims)
        self.blocks = [Block(dims, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(dims)
        self.out = nn.Linear(dims, vocab)

    def __call__(self, x):
        L = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for b in self.blocks:
            h = b(h, mask)
        return self.out(self.ln(h))


class Trainer:
    def __init__(self, config, tokenizer, batch_size, lr, seed):
        self.config = config
        self.tokenizer = tokenizer
        mx.random.seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        self.data_manager = DataManager(config, tokenizer, batch_size=batch_size)
        self.model = LedgerLM(tokenizer.vocab_size, max_len=config["max_context_size"] + 2)
        mx.eval(self.model.parameters())
        self.optimizer = optim.AdamW(learning_rate=lr, weight_decay=0.01)

    def compute_loss(self, model, inputs, targets):
        logits = model(inputs).astype(mx.float32)
        loss = nn.losses.cross_entropy(logits, targets)
        pad_mask = targets != self.tokenizer.PAD_TOKEN
        ntoks = pad_mask.sum()
        loss = (loss * pad_mask).sum() / ntoks
        return loss, ntoks

    def validate(self):
        if not self.data_manager.has_validation_data:
            return None
        total_loss = 0.0
        total_tokens = 0
        num_batches = min(self.data_manager.num_validation_batches, 50)
        for batch_idx in range(num_batches):
            try:
                batch = self.data_manager.generate_validation_batch(batch_idx)
                loss, tokens = self.compute_loss(self.model, batch[:, :-1], batch[:, 1:])
                total_loss += float(loss.item())
                total_tokens += int(tokens.item())
            except ValueError as e:
                print(f"Skipping validation batch {batch_idx} due to error: {e}")
                continue
        avg_loss = total_loss / num_batches
        return avg_loss

    def train(self, steps, val_every):
        def loss_fn(model, x, y):
            return self.compute_loss(model, x, y)[0]

        loss_and_grad = nn.value_and_grad(self.model, loss_fn)
        val_loss = self.validate()
        print(f"  step {0:4d} | val_loss {val_loss:.3f} | val_ppl {np.exp(val_loss):7.2f}")
        best = val_loss
        window = []
        for step in range(steps):
            batch = self.data_manager.generate_batch(step)
            loss, grads = loss_and_grad(self.model, batch[:, :-1], batch[:, 1:])
            self.optimizer.update(self.model, grads)
            mx.eval(self.model.parameters(), self.optimizer.state, loss)
            window.append(loss.item())
            if (step + 1) % val_every == 0:
                val_loss = self.validate()
                best = min(best, val_loss)
                print(f"  step {step + 1:4d} | train_loss {np.mean(window):.3f} | "
                      f"val_loss {val_loss:.3f} | val_ppl {np.exp(val_loss):7.2f}")
                window = []
        return best


def main():
    workdir = tempfile.mkdtemp()
    train_path = os.path.join(workdir, "train.jsonl")
    val_path = os.path.join(workdir, "valid.jsonl")
    write_jsonl(train_path, n_docs=60, seed=1, lines_per_doc=6)
    write_jsonl(val_path, n_docs=2, seed=2, lines_per_doc=4)
    config = {
        "input_file": train_path,
        "validation_file": val_path,
        "max_context_size": 48,
        "chunk_overlap": 0,
    }
    tok = CharTokenizer()
    probe = DataManager(config, tok, batch_size=1)
    print(f"train chunks {len(probe.train_docs)} | val chunks {len(probe.val_docs)} | vocab {tok.vocab_size}")

    results = {}
    t0 = time.time()
    for batch_size in [4, 8, 16]:
        print(f"== run batch_size={batch_size} lr=2e-3")
        trainer = Trainer(config, tok, batch_size=batch_size, lr=2e-3, seed=7)
        print(f"  train batches {len(trainer.data_manager.train_batch_idx)} | "
              f"val batches {trainer.data_manager.num_validation_batches}")
        best = trainer.train(steps=120, val_every=40)
        results[batch_size] = best
        print(f"  best val_loss {best:.3f}  ({time.time() - t0:.1f}s)")

    winner = min(results, key=results.get)
    print("sweep results: " + ", ".join(f"bs={k}: {v:.3f}" for k, v in results.items()))
    print(f"selected batch_size={winner} (val_loss {results[winner]:.3f})")


if __name__ == "__main__":
    main()
