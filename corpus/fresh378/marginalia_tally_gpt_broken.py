"""Tiny causal LM trained on synthetic markdown-like token streams (MLX)."""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

np.random.seed(0)
mx.random.seed(0)

VOCAB = 64
SEQ = 32
PAD = 0


class TrainingConfig:
    num_train_epochs = 4
    batch_size = 8
    learning_rate = 3e-3
    weight_decay = 0.01
    warmup_steps = 10
    logging_steps = 5
    eval_steps = 19


class MarkdownDataset:
    """Synthetic 'docs': heading token, then a noisy repeating phrase, padded to SEQ."""

    def __init__(self, n, seed):
        rng = np.random.RandomState(seed)
        self.samples = []
        for _ in range(n):
            length = rng.randint(20, SEQ + 1)
            head = rng.randint(1, 8)
            phrase = [(head * 7 + j * 3) % (VOCAB - 8) + 8 for j in range(4)]
            toks = [head] + [
                phrase[j % 4] if rng.rand() > 0.35 else rng.randint(8, VOCAB)
                for j in range(length - 1)
            ]
            ids = np.full(SEQ, PAD, dtype=np.int32)
            mask = np.zeros(SEQ, dtype=np.float32)
            ids[:length] = toks
            mask[:length] = 1.0
            self.samples.append({"input_ids": ids, "attention_mask": mask})

    def __len__(self):
        return len(self.samples)

    def batch_iterate(self, batch_size, shuffle=False):
        indices = np.arange(len(self.samples))
        if shuffle:
            np.random.shuffle(indices)
        for i in range(0, len(indices), batch_size):
            batch_indices = indices[i : i + batch_size]
            yield {
                "input_ids": np.stack([self.samples[idx]["input_ids"] for idx in batch_indices]),
                "attention_mask": np.stack([self.samples[idx]["attention_mask"] for idx in batch_indices]),
                "labels": np.stack([self.samples[idx]["input_ids"] for idx in batch_indices]),
            }


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


class TinyGPT(nn.Module):
    def __init__(self, vocab=VOCAB, dims=64, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(SEQ, dims)
        self.blocks = [Block(dims, heads) for _ in range(layers)]
        self.ln_f = nn.LayerNorm(dims)
        self.head = nn.Linear(dims, vocab)

    def __call__(self, ids):
        L = ids.shape[1]
        x = self.tok(ids) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln_f(x))


class Trainer:
    def __init__(self, config, train_dataset, eval_dataset=None):
        self.config = config
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset
        self.model = TinyGPT()
        mx.eval(self.model.parameters())
        self._setup_optimizer()
        self.global_step = 0
        self.current_epoch = 0

    def _setup_optimizer(self):
        self.optimizer = optim.AdamW(
            learning_rate=self.config.learning_rate,
            weight_decay=self.config.weight_decay,
        )

        def lr_schedule(step):
            warmup = self.config.warmup_steps
            if step < warmup:
                return step / warmup
            else:
                progress = (step - warmup) / (
                    self.config.num_train_epochs * len(self.train_dataset) // self.config.batch_size
                    - warmup
                )
                return 0.5 * (1 + math.cos(math.pi * progress))

        self.lr_schedule = lr_schedule

    def loss_fn(self, model, inputs, targets, attention_mask):
        logits = model(inputs)
        shift_logits = logits[..., :-1, :]
        shift_targets = targets[..., 1:]
        shift_mask = attention_mask[..., 1:]
        vocab_size = shift_logits.shape[-1]
        loss = nn.losses.cross_entropy(
            shift_logits.reshape(-1, vocab_size), shift_targets.reshape(-1), reduction="none"
        )
        loss = loss.reshape(shift_targets.shape)
        return (loss * shift_mask).sum() / shift_mask.sum()

    def train_step(self, batch):
        inputs = mx.array(batch["input_ids"])
        targets = mx.array(batch["labels"])
        attention_mask = mx.array(batch["attention_mask"])
        loss_and_grad_fn = nn.value_and_grad(self.model, self.loss_fn)
        loss, grads = loss_and_grad_fn(self.model, inputs, targets, attention_mask)
        self.optimizer.update(self.model, grads)
        lr = self.config.learning_rate * self.lr_schedule(self.global_step)
        self.optimizer.learning_rate = lr
        mx.eval(self.model.parameters(), self.optimizer.state)
        return loss.item()

    def evaluate(self):
        total_loss, num_batches = 0.0, 0
        for batch in self.eval_dataset.batch_iterate(self.config.batch_size, shuffle=False):
            loss = self.loss_fn(
                self.model,
                mx.array(batch["input_ids"]),
                mx.array(batch["labels"]),
                mx.array(batch["attention_mask"]),
            )
            total_loss += loss.item()
            num_batches += 1
        return total_loss / num_batches

    def train(self):
        print(f"Training samples: {len(self.train_dataset)}")
        print(f"Evaluation samples: {len(self.eval_dataset)}")
        best_eval_loss = float("inf")
        steps_per_epoch = len(self.train_dataset) // self.config.batch_size

        for epoch in range(self.config.num_train_epochs):
            self.current_epoch = epoch
            print(f"Epoch {epoch + 1}/{self.config.num_train_epochs}")
            epoch_loss = 0.0
            for batch in self.train_dataset.batch_iterate(self.config.batch_size, shuffle=True):
                loss = self.train_step(batch)
                epoch_loss += loss
                self.global_step += 1

                if self.global_step % self.config.logging_steps == 0:
                    avg_loss = epoch_loss / (self.global_step % steps_per_epoch + 1)
                    print(f"Step {self.global_step}, Loss: {avg_loss:.4f}")

                if self.global_step % self.config.eval_steps == 0 and self.eval_dataset:
                    eval_loss = self.evaluate()
                    print(f"Evaluation loss: {eval_loss:.4f}")
                    if eval_loss < best_eval_loss:
                        best_eval_loss = eval_loss

            avg_epoch_loss = epoch_loss / steps_per_epoch
            print(f"Epoch {epoch + 1} completed. Average loss: {avg_epoch_loss:.4f}")

        print("Training completed successfully!")
        return {"final_loss": avg_epoch_loss, "best_eval_loss": best_eval_loss}


if __name__ == "__main__":
    t0 = time.time()
    train_ds = MarkdownDataset(150, seed=1)
    eval_ds = MarkdownDataset(40, seed=2)
    trainer = Trainer(TrainingConfig(), train_ds, eval_ds)
    result = trainer.train()
    print(f"final_loss={result['final_loss']:.4f} best_eval_loss={result['best_eval_loss']:.4f} "
          f"time={time.time() - t0:.1f}s")
