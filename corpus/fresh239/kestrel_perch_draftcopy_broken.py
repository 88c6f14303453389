"""Kestrel perch survey: train a small draft model to copy the field-note
continuations written by a larger "target" note-taker, so the draft can be used
for speculative decoding of survey logs.

Each example is a prompt (the start of a log line) plus the tokens the target
note-taker produced after it. The draft is trained with teacher forcing and a
masked cross-entropy, then scored on how often its greedy next token agrees with
the target's (the acceptance rate a speculative decoder would see).
"""

import math
import random
import time
from dataclasses import dataclass
from typing import List, Tuple

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

SEED = 7
random.seed(SEED)
np.random.seed(SEED)
mx.random.seed(SEED)

LETTERS = "abcdefghijklmnopqrst"


class CharTokenizer:
    def __init__(self):
        self.itos = ["<pad>"] + list(LETTERS)
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        self.pad_token_id = 0
        self.vocab_size = len(self.itos)

    def encode(self, text: str) -> List[int]:
        return [self.stoi[c] for c in text]

    def decode(self, ids) -> str:
        return "".join(self.itos[i] for i in ids if i != 0)


@dataclass
class TrainingExample:
    id: str
    prompt: str
    target_output: List[int]


class TargetNoteTaker:
    """Stand-in for the large model: a constant second-order rule over letters."""

    def __init__(self, tokenizer, rng):
        n = len(LETTERS)
        self.tok = tokenizer
        self.table = rng.integers(1, n + 1, size=(n + 1, n + 1))

    def generate(self, prompt_ids: List[int], n_tokens: int) -> List[int]:
        seq = list(prompt_ids)
        out = []
        for _ in range(n_tokens):
            nxt = int(self.table[seq[-2], seq[-1]])
            out.append(nxt)
            seq.append(nxt)
        return out


class DraftModel(nn.Module):
    """Small causal draft: token embedding, a width-2 causal convolution, MLP head."""

    def __init__(self, vocab_size, dims=32, hidden=96):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dims)
        self.conv = nn.Conv1d(dims, hidden, kernel_size=2)
        self.mid = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, vocab_size)

    def __call__(self, x):
        e = self.embed(x)
        e = mx.pad(e, [(0, 0), (1, 0), (0, 0)])
        h = nn.relu(self.conv(e))
        h = nn.relu(self.mid(h))
        return self.head(h)


class DraftTrainer:
    def __init__(self, model, tokenizer, learning_rate=3e-3, warmup_steps=20,
                 batch_size=16, max_length=40, max_grad_norm=1.0):
        self.model = model
        self.tokenizer = tokenizer
        self.learning_rate = learning_rate
        self.warmup_steps = warmup_steps
        self.batch_size = batch_size
        self.max_length = max_length
        self.max_grad_norm = max_grad_norm
        self.optimizer = optim.AdamW(learning_rate=learning_rate, weight_decay=0.01)
        self.global_step = 0

    def _get_lr(self, step: int, total_steps: int) -> float:
        if step < self.warmup_steps:
            return self.learning_rate * step / self.warmup_steps
        progress = (step - self.warmup_steps) / (total_steps - self.warmup_steps)
        return self.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))

    def _prepare_batch(self, examples: List[TrainingExample]) -> Tuple[mx.array, mx.array]:
        max_length = self.max_length
        input_ids_list = []
        target_ids_list = []

        for ex in examples:
            prompt_ids = self.tokenizer.encode(ex.prompt)
            prompt_len = len(prompt_ids)

            available_space = max_length - prompt_len - 1
            if available_space <= 0:
                continue

            target_tokens = ex.target_output[:available_space]
            if len(target_tokens) == 0:
                continue

            full_input = prompt_ids + target_tokens[:-1]
            targets = [-100] * prompt_len + target_tokens

            assert len(full_input) == len(targets), (
                f"Sequence length mismatch: input={len(full_input)}, "
                f"targets={len(targets)}, prompt_len={prompt_len}, "
                f"target_len={len(target_tokens)}"
            )

            pad_length = max_length - len(full_input)
            if pad_length > 0:
                full_input = full_input + [self.tokenizer.pad_token_id or 0] * pad_length
                targets = targets + [-100] * pad_length
            else:
                full_input = full_input[:max_length]
                targets = targets[:max_length]

            input_ids_list.append(full_input)
            target_ids_list.append(targets)

        if len(input_ids_list) == 0:
            return (
                mx.array([], dtype=mx.int32).reshape(0, max_length),
                mx.array([], dtype=mx.int32).reshape(0, max_length),
            )
        return mx.array(input_ids_list), mx.array(target_ids_list)

    def _compute_loss(self, input_ids: mx.array, target_ids: mx.array) -> mx.array:
        logits = self.model(input_ids)
        batch_size, seq_len, vocab_size = logits.shape
        logits = logits.reshape(-1, vocab_size)
        targets = target_ids.reshape(-1)

        mask = targets != -100
        num_valid = mask.sum()
        if num_valid == 0:
            return mx.array(0.0)

        targets = mx.where(mask, targets, mx.zeros_like(targets))
        log_probs = nn.log_softmax(logits, axis=-1)
        target_log_probs = mx.take_along_axis(log_probs, targets[:, None], axis=-1).squeeze(-1)
        masked_loss = -target_log_probs * mask
        return masked_loss.sum() / num_valid

    def _training_step(self, input_ids, target_ids):
        def loss_fn(model):
            return self._compute_loss(input_ids, target_ids)

        loss_and_grad_fn = nn.value_and_grad(self.model, loss_fn)
        loss, grads = loss_and_grad_fn(self.model)
        return loss.item(), grads

    def acceptance(self, examples: List[TrainingExample]) -> Tuple[float, float]:
        seqs, starts, golds = [], [], []
        for ex in examples:
            p = self.tokenizer.encode(ex.prompt)
            seqs.append((p + ex.target_output)[:-1])
            starts.append(len(p) - 1)
            golds.append(ex.target_output)
        width = max(len(s) for s in seqs)
        x = mx.array([s + [0] * (width - len(s)) for s in seqs])
        pred = np.array(mx.argmax(self.model(x), axis=-1))
        hits = total = first_hits = 0
        for row, st, gold in zip(pred, starts, golds):
            guess = row[st:st + len(gold)]
            hits += int((guess == np.array(gold)).sum())
            total += len(gold)
            first_hits += int(guess[0] == gold[0])
        return hits / total, first_hits / len(examples)

    def train(self, examples, valid, num_epochs=5):
        n = len(examples)
        steps_per_epoch = math.ceil(n / self.batch_size)
        total_steps = steps_per_epoch * num_epochs
        print(f"Starting draft training: {n} examples, {num_epochs} epochs, {total_steps} total steps")
        t0 = time.time()
        for epoch in range(num_epochs):
            shuffled = examples.copy()
            random.shuffle(shuffled)
            epoch_loss, seen = 0.0, 0
            for step in range(steps_per_epoch):
                batch = shuffled[step * self.batch_size:(step + 1) * self.batch_size]
                if not batch:
                    continue
                input_ids, target_ids = self._prepare_batch(batch)
                if input_ids.shape[0] == 0:
                    continue
                loss, grads = self._training_step(input_ids, target_ids)

                grad_sq_sum = 0.0
                for _, g in tree_flatten(grads):
                    grad_sq_sum += float((g * g).sum())
                grad_norm = math.sqrt(grad_sq_sum)
                if grad_norm > self.max_grad_norm:
                    scale = self.max_grad_norm / (grad_norm + 1e-6)
                    grads = tree_map(lambda g: g * scale, grads)

                self.optimizer.learning_rate = self._get_lr(self.global_step, total_steps)
                self.optimizer.update(self.model, grads)
                mx.eval(self.model.parameters(), self.optimizer.state)
                self.global_step += 1
                epoch_loss += loss
                seen += 1
                if self.global_step % 10 == 0:
                    print(f"step {self.global_step:4d} | loss {loss:.4f} | grad_norm {grad_norm:.3f} "
                          f"| lr {float(self.optimizer.learning_rate):.2e}")
            acc, first = self.acceptance(valid)
            print(f"epoch {epoch + 1} | mean loss {epoch_loss / max(seen, 1):.4f} "
                  f"| acceptance {acc:.3f} | first-token acceptance {first:.3f} "
                  f"| {time.time() - t0:.1f}s")
        return acc, first


def make_examples(target, tok, rng, n, tag):
    out = []
    for i in range(n):
        plen = int(rng.integers(4, 10))
        prompt = "".join(rng.choice(list(LETTERS), size=plen))
        gen = target.generate(tok.encode(prompt), int(rng.integers(12, 24)))
        out.append(TrainingExample(id=f"{tag}{i}", prompt=prompt, target_output=gen))
    return out


def main():
    rng = np.random.default_rng(SEED)
    tok = CharTokenizer()
    target = TargetNoteTaker(tok, rng)
    train_ex = make_examples(target, tok, rng, 800, "tr")
    valid_ex = make_examples(target, tok, rng, 200, "va")
    print(f"train {len(train_ex)} | valid {len(valid_ex)} | vocab {tok.vocab_size}")
    print(f"sample: {train_ex[0].prompt} -> {tok.decode(train_ex[0].target_output)}")

    model = DraftModel(tok.vocab_size)
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"draft parameters: {n_params}")
    print(f"chance acceptance: {1 / len(LETTERS):.3f}")

    trainer = DraftTrainer(model, tok)
    acc, first = trainer.train(train_ex, valid_ex, num_epochs=5)
    print(f"final acceptance {acc:.3f} | first-token acceptance {first:.3f}")


if __name__ == "__main__":
    main()
