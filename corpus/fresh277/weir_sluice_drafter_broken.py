"""Adapt a 4-bit draft model to a target model's continuations with LoRA.

A small Qwen-style draft LM is pretrained in fp32, quantized to 4 bits
(nn.quantize), then LoRA adapters are added to q_proj / v_proj and trained
on (prompt, target continuation) pairs, with prompt positions masked (-100).
"""

import math
import random
import time
from dataclasses import dataclass
from typing import List

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

VOCAB = 64
DIM = 32
HEADS = 2
LAYERS = 2
PROMPT_LEN = 6
GEN_LEN = 10


# ----------------------------------------------------------------- draft model
class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.q_proj = nn.Linear(dim, dim, bias=True)
        self.k_proj = nn.Linear(dim, dim, bias=True)
        self.v_proj = nn.Linear(dim, dim, bias=True)
        self.o_proj = nn.Linear(dim, dim, bias=False)
        self.rope = nn.RoPE(dim // heads, traditional=False, base=10000)

    def __call__(self, x, mask):
        B, L, D = x.shape
        q = self.q_proj(x).reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)
        k = self.k_proj(x).reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)
        v = self.v_proj(x).reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)
        q, k = self.rope(q), self.rope(k)
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask=mask)
        return self.o_proj(o.transpose(0, 2, 1, 3).reshape(B, L, D))


class MLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)

    def __call__(self, x):
        return self.down_proj(nn.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.input_layernorm = nn.RMSNorm(dim)
        self.self_attn = Attention(dim, heads)
        self.post_attention_layernorm = nn.RMSNorm(dim)
        self.mlp = MLP(dim, 2 * dim)

    def __call__(self, x, mask):
        x = x + self.self_attn(self.input_layernorm(x), mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class DraftLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, DIM)
        self.layers = [Block(DIM, HEADS) for _ in range(LAYERS)]
        self.norm = nn.RMSNorm(DIM)
        self.lm_head = nn.Linear(DIM, VOCAB, bias=False)

    def __call__(self, ids):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(ids.shape[1])
        h = self.embed_tokens(ids)
        for layer in self.layers:
            h = layer(h, mask)
        return self.lm_head(self.norm(h))


# ------------------------------------------------------------------ LoRA parts
@dataclass
class LoRAConfig:
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: List[str] = None

    def __post_init__(self):
        if self.target_modules is None:
            self.target_modules = ["q_proj", "v_proj"]


class LoRALinear(nn.Module):
    def __init__(self, original_layer: nn.Module, rank=8, alpha=16, dropout=0.05):
        super().__init__()

        self.original_layer = original_layer
        self.rank = rank
        self.alpha = alpha
        self.scaling = alpha / rank

        in_features = original_layer.weight.shape[1]
        out_features = original_layer.weight.shape[0]

        # A: small random values, B: zeros, so the adapter starts as identity
        self.lora_A = mx.random.normal((rank, in_features)) * 0.01
        self.lora_B = mx.zeros((out_features, rank))

        self.dropout = dropout
        self._training = True

    def __call__(self, x):
        original_output = self.original_layer(x)
        if self._training and self.dropout > 0:
            mask = mx.random.bernoulli(1 - self.dropout, x.shape)
            x_dropped = x * mask / (1 - self.dropout)
            lora_output = (x_dropped @ self.lora_A.T) @ self.lora_B.T
        else:
            lora_output = (x @ self.lora_A.T) @ self.lora_B.T
        return original_output + lora_output * self.scaling


def apply_lora_to_model(model: nn.Module, config: LoRAConfig) -> nn.Module:
    def apply_lora_recursive(module: nn.Module, path: str = "") -> None:
        for name, child in module.named_modules():
            is_target = any(target in name for target in config.target_modules)

            if is_target and isinstance(child, nn.Linear):
                lora_layer = LoRALinear(
                    child, rank=config.rank, alpha=config.alpha, dropout=config.dropout
                )
                parent = module
                parts = name.split(".")
                for part in parts[:-1]:
                    parent = parent[int(part)] if part.isdigit() else getattr(parent, part)
                setattr(parent, parts[-1], lora_layer)

    original_params = 0
    for _, p in tree_flatten(model.parameters()):
        if p.dtype == mx.uint32:
            original_params += p.size * 8
        else:
            original_params += p.size

    apply_lora_recursive(model)

    lora_params = 0
    for _, module in model.named_modules():
        if isinstance(module, LoRALinear):
            lora_params += module.lora_A.size + module.lora_B.size
    print(
        f"LoRA applied. Original params: {original_params / 1e3:.1f}K, "
        f"LoRA params: {lora_params} ({100 * lora_params / original_params:.2f}%)"
    )
    return model


# ------------------------------------------------------------------------ data
def target_continuation(prompt, gen_len):
    """What the (larger) target model emits after a prompt: a run climbing by
    three from the prompt's last token."""
    stride = 3
    out, t = [], prompt[-1]
    for _ in range(gen_len):
        t = (t + stride) % VOCAB
        out.append(t)
    return out


def make_examples(n, rng):
    exs = []
    for _ in range(n):
        prompt = [rng.randrange(VOCAB) for _ in range(PROMPT_LEN)]
        exs.append((prompt, target_continuation(prompt, GEN_LEN)))
    return exs


def pretrain_sequences(n, rng):
    """Generic text for the base draft: runs with stride 1 or 2."""
    seqs = []
    for _ in range(n):
        s = rng.choice([1, 2])
        t = rng.randrange(VOCAB)
        seq = [(t + s * i) % VOCAB for i in range(PROMPT_LEN + GEN_LEN)]
        seqs.append(seq)
    return mx.array(seqs)


# --------------------------------------------------------------------- trainer
class LoRATrainer:
    def __init__(self, model, lora_config, learning_rate=3e-3, batch_size=16,
                 gradient_accumulation_steps=1, warmup_steps=10, max_grad_norm=1.0):
        self.lora_config = lora_config
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.warmup_steps = warmup_steps
        self.max_grad_norm = max_grad_norm
        self.model = apply_lora_to_model(model, lora_config)
        self.optimizer = optim.AdamW(learning_rate=learning_rate, weight_decay=0.01)
        self.global_step = 0

    def _get_lr(self, step, total_steps):
        if step < self.warmup_steps:
            return self.learning_rate * step / self.warmup_steps
        progress = (step - self.warmup_steps) / (total_steps - self.warmup_steps)
        return self.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))

    def _prepare_batch(self, examples):
        inputs, targets = [], []
        for prompt, gen in examples:
            full = prompt + gen
            inp, tgt = full[:-1], full[1:]
            for i in range(len(prompt) - 1):
                tgt[i] = -100
            inputs.append(inp)
            targets.append(tgt)
        return mx.array(inputs), mx.array(targets)

    def _compute_loss(self, model, input_ids, target_ids):
        logits = model(input_ids)
        vocab_size = logits.shape[-1]
        logits = logits.reshape(-1, vocab_size)
        targets = target_ids.reshape(-1)
        mask = targets != -100
        num_valid = mask.sum()
        targets = mx.where(mask, targets, mx.zeros_like(targets))
        log_probs = nn.log_softmax(logits, axis=-1)
        tlp = mx.take_along_axis(log_probs, targets[:, None], axis=-1).squeeze(-1)
        return (-tlp * mask).sum() / num_valid

    def _training_step(self, input_ids, target_ids):
        loss_and_grad_fn = nn.value_and_grad(self.model, self._compute_loss)
        loss, grads = loss_and_grad_fn(self.model, input_ids, target_ids)
        return loss.item(), grads

    def set_training(self, flag):
        for _, m in self.model.named_modules():
            if isinstance(m, LoRALinear):
                m._training = flag

    def evaluate(self, examples):
        self.set_training(False)
        ids, tgt = self._prepare_batch(examples)
        loss = self._compute_loss(self.model, ids, tgt).item()
        preds = mx.argmax(self.model(ids), axis=-1)
        m = tgt != -100
        acc = ((preds == tgt) * m).sum().item() / m.sum().item()
        self.set_training(True)
        return loss, acc

    def train(self, training_examples, eval_examples, num_epochs=3):
        n = len(training_examples)
        steps_per_epoch = math.ceil(n / self.batch_size)
        total_steps = steps_per_epoch * num_epochs // self.gradient_accumulation_steps
        print(f"Starting LoRA training: {n} examples, {num_epochs} epochs, "
              f"{total_steps} optimizer steps")
        accumulated_grads, accumulated_loss, valid = None, 0.0, 0
        rng = random.Random(1)
        for epoch in range(num_epochs):
            shuffled = training_examples.copy()
            rng.shuffle(shuffled)
            epoch_loss, updates = 0.0, 0
            for step in range(steps_per_epoch):
                batch = shuffled[step * self.batch_size:(step + 1) * self.batch_size]
                input_ids, target_ids = self._prepare_batch(batch)
                loss, grads = self._training_step(input_ids, target_ids)
                if not math.isfinite(loss):
                    continue
                if accumulated_grads is None:
                    accumulated_grads = grads
                else:
                    accumulated_grads = tree_map(lambda a, b: a + b, accumulated_grads, grads)
                accumulated_loss += loss
                valid += 1
                if (step + 1) % self.gradient_accumulation_steps == 0:
                    accumulated_grads = tree_map(lambda g: g / valid, accumulated_grads)
                    grad_sq_sum = 0.0
                    for _, g in tree_flatten(accumulated_grads):
                        grad_sq_sum += mx.sum(g ** 2).item()
                    grad_norm = grad_sq_sum ** 0.5
                    if grad_norm > self.max_grad_norm:
                        scale = self.max_grad_norm / grad_norm
                        accumulated_grads = tree_map(lambda g: g * scale, accumulated_grads)
                    current_lr = self._get_lr(self.global_step, total_steps)
                    self.optimizer.learning_rate = current_lr
                    self.optimizer.update(self.model, accumulated_grads)
                    mx.eval(self.model.parameters(), self.optimizer.state)
                    avg = accumulated_loss / valid
                    if self.global_step % 10 == 0:
                        print(f"Epoch {epoch + 1}/{num_epochs}, Step {self.global_step}/"
                              f"{total_steps}, Loss: {avg:.4f}, Grad Norm: {grad_norm:.4f}, "
                              f"LR: {current_lr:.2e}")
                    epoch_loss += avg
                    updates += 1
                    accumulated_grads, accumulated_loss, valid = None, 0.0, 0
                    self.global_step += 1
            vl, va = self.evaluate(eval_examples)
            print(f"Epoch {epoch + 1} done: train loss {epoch_loss / max(1, updates):.4f}, "
                  f"held-out loss {vl:.4f}, held-out token acc {va:.3f}")


# ------------------------------------------------------------------------ main
def pretrain_base(model, steps=150):
    rng = random.Random(0)
    data = pretrain_sequences(2048, rng)
    opt = optim.Adam(learning_rate=3e-3)

    def lm_loss(m, x):
        return nn.losses.cross_entropy(m(x[:, :-1]), x[:, 1:], reduction="mean")

    step_fn = nn.value_and_grad(model, lm_loss)
    for s in range(steps):
        idx = mx.array(rng.sample(range(data.shape[0]), 32))
        loss, g = step_fn(model, data[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if s % 50 == 0 or s == steps - 1:
            print(f"[base pretrain] step {s:4d} loss {loss.item():.4f}")


def main():
    mx.random.seed(0)
    t0 = time.time()
    model = DraftLM()
    mx.eval(model.parameters())
    pretrain_base(model)

    nn.quantize(model, group_size=32, bits=4)
    mx.eval(model.parameters())
    print("draft model quantized to 4 bits (group size 32)")

    rng = random.Random(42)
    train_ex = make_examples(512, rng)
    eval_ex = make_examples(128, rng)

    trainer = LoRATrainer(model, LoRAConfig(rank=8, alpha=16, dropout=0.05))
    l0, a0 = trainer.evaluate(eval_ex)
    print(f"before adaptation: held-out loss {l0:.4f}, held-out token acc {a0:.3f}")
    trainer.train(train_ex, eval_ex, num_epochs=4)
    l1, a1 = trainer.evaluate(eval_ex)
    print(f"after adaptation: held-out loss {l1:.4f} (start {l0:.4f}), "
          f"token acc {a1:.3f} (start {a0:.3f})")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
