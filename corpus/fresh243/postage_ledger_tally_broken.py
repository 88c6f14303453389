"""Adapt a small draft model to a target model's outputs with LoRA (speculative decoding).

Prompts are chat-formatted; the draft is trained with teacher forcing on the
target's generations, then the token acceptance rate is measured on held-out prompts.
"""
import logging
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
logger = logging.getLogger("draft-lora")

random.seed(0)
mx.random.seed(0)

N_WORDS = 48


class ChatTokenizer:
    """Word-level tokenizer with added chat special tokens (HF-style sizes)."""

    def __init__(self):
        self.words = [f"w{i}" for i in range(N_WORDS)]
        self.added = ["<|im_start|>", "<|im_end|>", "<|pad|>"]
        self.vocab = {t: i for i, t in enumerate(self.words + self.added)}
        self.pad_token_id = self.vocab["<|pad|>"]

    @property
    def vocab_size(self):
        return len(self.words)

    def __len__(self):
        return len(self.vocab)

    def apply_chat_template(self, prompt_ids):
        s, e = self.vocab["<|im_start|>"], self.vocab["<|im_end|>"]
        return [s] + prompt_ids + [e, s]


class LoRALinear(nn.Module):
    def __init__(self, d_in, d_out, rank=8, scale=2.0):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out, bias=False)
        self.lora_A = mx.random.normal((d_in, rank)) * (1.0 / math.sqrt(d_in))
        self.lora_B = mx.zeros((rank, d_out))
        self.scale = scale

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_A) @ self.lora_B)


class Block(nn.Module):
    def __init__(self, d, heads=4):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.RMSNorm(d)
        self.q = LoRALinear(d, d)
        self.k = nn.Linear(d, d, bias=False)
        self.v = LoRALinear(d, d)
        self.o = nn.Linear(d, d, bias=False)
        self.norm2 = nn.RMSNorm(d)
        self.up = LoRALinear(d, 4 * d)
        self.down = LoRALinear(4 * d, d)

    def __call__(self, x, mask):
        B, L, D = x.shape
        h = self.norm1(x)
        q, k, v = (t.reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3) for t in (self.q(h), self.k(h), self.v(h)))
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=(D // self.heads) ** -0.5, mask=mask)
        x = x + self.o(a.transpose(0, 2, 1, 3).reshape(B, L, D))
        return x + self.down(nn.gelu(self.up(self.norm2(x))))


class DraftLM(nn.Module):
    def __init__(self, n_vocab, d=64, n_layers=2):
        super().__init__()
        self.vocab_size = n_vocab
        self.embed = nn.Embedding(n_vocab, d)
        self.pos = nn.Embedding(64, d)
        self.blocks = [Block(d) for _ in range(n_layers)]
        self.norm = nn.RMSNorm(d)
        self.head = LoRALinear(d, n_vocab)

    def __call__(self, ids):
        L = ids.shape[1]
        x = self.embed(ids) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.norm(x))


def target_generate(prompt_words, n_new=10):
    """Stand-in for the large target model: a deterministic walk seeded by the prompt."""
    out, t = [], (sum(prompt_words) * 7) % N_WORDS
    for _ in range(n_new):
        out.append(t)
        t = (t * 5 + 3) % N_WORDS
    return out


def make_examples(tok, n):
    exs = []
    for i in range(n):
        words = [random.randrange(N_WORDS) for _ in range(random.randint(3, 8))]
        exs.append({
            "id": f"ex{i:04d}",
            "prompt_tokens": tok.apply_chat_template(words),
            "target_output": target_generate(words),
        })
    return exs


class LoRATrainer:
    def __init__(self, model, tokenizer, learning_rate=3e-3, batch_size=8, warmup_steps=10, max_grad_norm=1.0):
        self.model = model
        self.tokenizer = tokenizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.warmup_steps = warmup_steps
        self.max_grad_norm = max_grad_norm
        self.optimizer = optim.Adam(learning_rate=learning_rate)
        self.max_length = 24

    def _get_lr(self, step, total_steps):
        if step < self.warmup_steps:
            return self.learning_rate * (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, total_steps - self.warmup_steps)
        return self.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))

    def _prepare_batch(self, examples):
        input_ids_list, target_ids_list = [], []
        for ex in examples:
            prompt_ids = list(ex["prompt_tokens"])
            prompt_len = len(prompt_ids)
            target_tokens = ex["target_output"][: self.max_length - prompt_len - 1]
            if len(target_tokens) == 0:
                continue
            full_sequence = prompt_ids + target_tokens
            full_input = full_sequence[:-1]
            targets = full_sequence[1:]
            for i in range(prompt_len - 1):
                targets[i] = -100

            vocab_size = getattr(self.tokenizer, "vocab_size", None)
            if isinstance(vocab_size, int) and vocab_size > 0:
                valid_targets = [t for t in targets if t != -100]
                if (
                    min(full_input) < 0
                    or max(full_input) >= vocab_size
                    or min(valid_targets) < 0
                    or max(valid_targets) >= vocab_size
                ):
                    logger.info(f"Skipping example {ex['id']}: token id out of range for vocab_size={vocab_size}")
                    continue

            pad_length = self.max_length - len(full_input)
            full_input = full_input + [self.tokenizer.pad_token_id] * pad_length
            targets = targets + [-100] * pad_length
            input_ids_list.append(full_input)
            target_ids_list.append(targets)

        if len(input_ids_list) == 0:
            return (mx.zeros((0, self.max_length), mx.int32), mx.zeros((0, self.max_length), mx.int32))
        return mx.array(input_ids_list), mx.array(target_ids_list)

    def _compute_loss(self, model, input_ids, target_ids):
        logits = model(input_ids)
        logits = logits.reshape(-1, logits.shape[-1])
        targets = target_ids.reshape(-1)
        mask = targets != -100
        num_valid = mask.sum()
        targets = mx.where(mask, targets, mx.zeros_like(targets))
        ce = nn.losses.cross_entropy(logits, targets, reduction="none")
        return (ce * mask).sum() / num_valid

    def train(self, examples, num_epochs):
        steps_per_epoch = math.ceil(len(examples) / self.batch_size)
        total_steps = num_epochs * steps_per_epoch
        loss_and_grad = nn.value_and_grad(self.model, self._compute_loss)
        global_step = 0
        for epoch in range(num_epochs):
            shuffled = examples.copy()
            random.shuffle(shuffled)
            epoch_loss, n_updates = 0.0, 0
            for step in range(steps_per_epoch):
                batch = shuffled[step * self.batch_size:(step + 1) * self.batch_size]
                input_ids, target_ids = self._prepare_batch(batch)
                if input_ids.shape[0] == 0:
                    continue
                loss, grads = loss_and_grad(self.model, input_ids, target_ids)
                grads, grad_norm = optim.clip_grad_norm(grads, self.max_grad_norm)
                self.optimizer.learning_rate = self._get_lr(global_step, total_steps)
                self.optimizer.update(self.model, grads)
                mx.eval(self.model.parameters(), self.optimizer.state, loss)
                epoch_loss += loss.item()
                n_updates += 1
                global_step += 1
            print(f"epoch {epoch + 1}/{num_epochs}  avg_loss={epoch_loss / max(1, n_updates):.4f}  "
                  f"lr={self._get_lr(global_step, total_steps):.2e}")
        return global_step


def acceptance_rate(model, examples):
    accepted, total = 0, 0
    for ex in examples:
        seq = ex["prompt_tokens"] + ex["target_output"]
        logits = model(mx.array([seq[:-1]]))
        pred = mx.argmax(logits[0, len(ex["prompt_tokens"]) - 1:], axis=-1).tolist()
        for p, t in zip(pred, ex["target_output"]):
            accepted += int(p == t)
            total += 1
    return accepted / total


def main():
    tok = ChatTokenizer()
    model = DraftLM(len(tok))
    model.freeze()
    model.apply_to_modules(lambda name, m: m.unfreeze(keys=["lora_A", "lora_B"]) if isinstance(m, LoRALinear) else None)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_total = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"trainable params: {n_train} / {n_total}")

    train_ex = make_examples(tok, 256)
    eval_ex = make_examples(tok, 64)
    print(f"acceptance before: {acceptance_rate(model, eval_ex):.3f}")

    trainer = LoRATrainer(model, tok)
    steps = trainer.train(train_ex, num_epochs=12)
    print(f"optimizer steps: {steps}")
    print(f"acceptance after: {acceptance_rate(model, eval_ex):.3f}")


if __name__ == "__main__":
    main()
