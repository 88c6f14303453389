"""Distil a tiny 'target' LM's greedy continuations into a LoRA-adapted draft LM
(speculative-decoding style), with gradient accumulation and global-norm clipping."""
import logging
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
logger = logging.getLogger("specdraft")

VOCAB, DIM, MAXLEN = 48, 64, 24
mx.random.seed(3)
random.seed(3)


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank=8, alpha=16.0):
        super().__init__()
        out_dims, in_dims = base.weight.shape
        self.linear = base
        self.scale = alpha / rank
        self.lora_A = mx.random.normal((in_dims, rank)) * (1.0 / math.sqrt(in_dims))
        self.lora_B = mx.zeros((rank, out_dims))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_A) @ self.lora_B)


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.mix = nn.Linear(DIM, DIM)
        self.ff = nn.Linear(DIM, DIM)
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, ids):
        h = self.embed(ids)
        # causal running mean over positions as a cheap "attention"
        csum = mx.cumsum(h, axis=1)
        cnt = mx.arange(1, ids.shape[1] + 1).reshape(1, -1, 1)
        h = h + nn.gelu(self.mix(csum / cnt))
        h = h + nn.gelu(self.ff(h))
        return self.head(h)


def target_next(tok):
    # deterministic "target model" behaviour the draft should imitate
    return (3 * tok + 7) % VOCAB


def make_examples(n):
    out = []
    for _ in range(n):
        plen = random.randint(3, 8)
        prompt = [random.randrange(VOCAB) for _ in range(plen)]
        tgt, t = [], prompt[-1]
        for _ in range(random.randint(6, 12)):
            t = target_next(t)
            tgt.append(t)
        out.append((prompt, tgt))
    return out


class LoRATrainer:
    def __init__(self, model, lr=3e-3, batch_size=8, gradient_accumulation_steps=4, max_grad_norm=1.0):
        self.model = model
        self.batch_size = batch_size
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.max_grad_norm = max_grad_norm
        self.base_lr = lr
        self.optimizer = optim.AdamW(learning_rate=lr, weight_decay=0.0)
        self.global_step = 0
        self._loss_and_grad = nn.value_and_grad(model, self._loss)

    def _get_lr(self, step, total):
        warm = max(1, total // 10)
        if step < warm:
            return self.base_lr * (step + 1) / warm
        return self.base_lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    def _prepare_batch(self, exs):
        ins, tgs, masks = [], [], []
        for prompt, target in exs:
            full_input = prompt + target[:-1]
            targets = prompt[1:] + target
            m = [0] * (len(prompt) - 1) + [1] * len(target)
            pad = MAXLEN - len(full_input)
            ins.append(full_input + [0] * pad)
            tgs.append(targets + [0] * pad)
            masks.append(m + [0] * pad)
        return mx.array(ins), mx.array(tgs), mx.array(masks, dtype=mx.float32)

    def _loss(self, ids, tg, mask):
        logits = self.model(ids)
        ce = nn.losses.cross_entropy(logits, tg, reduction="none")
        return (ce * mask).sum() / mask.sum()

    def _training_step(self, ids, tg, mask):
        return self._loss_and_grad(ids, tg, mask)

    def evaluate(self, exs):
        ids, tg, mask = self._prepare_batch(exs)
        pred = mx.argmax(self.model(ids), axis=-1)
        acc = ((pred == tg) * mask).sum() / mask.sum()
        return self._loss(ids, tg, mask).item(), acc.item()

    def train(self, examples, val, num_epochs):
        steps_per_epoch = len(examples) // self.batch_size
        total_steps = num_epochs * steps_per_epoch // self.gradient_accumulation_steps
        accumulated_grads = None
        accumulated_loss = 0.0
        for epoch in range(num_epochs):
            shuffled = examples.copy()
            random.shuffle(shuffled)
            for step in range(steps_per_epoch):
                batch = shuffled[step * self.batch_size:(step + 1) * self.batch_size]
                ids, tg, mask = self._prepare_batch(batch)
                loss, grads = self._training_step(ids, tg, mask)
                if accumulated_grads is None:
                    accumulated_grads = grads
                else:
                    accumulated_grads = tree_map(lambda a, b: a + b, accumulated_grads, grads)
                accumulated_loss += loss.item()

                if (step + 1) % self.gradient_accumulation_steps == 0:
                    accumulated_grads = tree_map(
                        lambda g: g / self.gradient_accumulation_steps, accumulated_grads
                    )
                    # Gradient clipping
                    grad_norm = sum(
                        mx.sum(g ** 2).item()
                        for g in tree_flatten(accumulated_grads)[0]
                    ) ** 0.5
                    if grad_norm > self.max_grad_norm:
                        scale = self.max_grad_norm / grad_norm
                        accumulated_grads = tree_map(lambda g: g * scale, accumulated_grads)

                    current_lr = self._get_lr(self.global_step, total_steps)
                    self.optimizer.learning_rate = current_lr
                    self.optimizer.update(self.model, accumulated_grads)
                    mx.eval(self.model.parameters(), self.optimizer.state)

                    avg = accumulated_loss / self.gradient_accumulation_steps
                    if self.global_step % 10 == 0:
                        logger.info(
                            f"Epoch {epoch+1}/{num_epochs}, Step {self.global_step}/{total_steps}, "
                            f"Loss: {avg:.4f}, GradNorm: {grad_norm:.3f}, LR: {current_lr:.2e}"
                        )
                    accumulated_grads = None
                    accumulated_loss = 0.0
                    self.global_step += 1
            vl, va = self.evaluate(val)
            logger.info(f"Epoch {epoch+1} done: val_loss={vl:.4f} val_token_acc={va:.3f}")


def main():
    model = TinyLM()
    mx.eval(model.parameters())
    model.freeze()
    model.mix = LoRALinear(model.mix)
    model.ff = LoRALinear(model.ff)
    model.head = LoRALinear(model.head)
    model.freeze()
    for m in (model.mix, model.ff, model.head):
        m.unfreeze(keys=["lora_A", "lora_B"], recurse=False)
    model.embed.unfreeze()
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    logger.info(f"LoRA applied. trainable params: {n_train}")
    train, val = make_examples(1024), make_examples(128)
    trainer = LoRATrainer(model)
    vl, va = trainer.evaluate(val)
    logger.info(f"Before training: val_loss={vl:.4f} val_token_acc={va:.3f}")
    trainer.train(train, val, num_epochs=4)


if __name__ == "__main__":
    main()
