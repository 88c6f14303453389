#!/usr/bin/env python3
"""LoRA fine-tuning of a small 4-bit encoder for query -> passage retrieval.

In-batch negatives (InfoNCE / MultipleNegativesRankingLoss), LoRA on the
attention query/value projections, AdamW with linear warmup + cosine decay.
Synthetic catalogue: every passage belongs to a topic; queries and passages of
the same topic share a few topic words buried in generic filler words.
"""

import math
import random
import time
from dataclasses import dataclass
from typing import List, Optional

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as opt
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten
from mlx_lm.tuner.lora import LoRALinear

SEED = 7
VOCAB = 512
HIDDEN = 64
HEADS = 4
LAYERS = 2
SEQ = 10
N_TOPICS = 24
TOPIC_WORDS = 6
BATCH = 24
EPOCHS = 3
LR = 3e-3
TEMPERATURE = 0.05
LORA_RANK = 8
LORA_ALPHA = 16.0
TARGET_MODULES = ["query", "value"]

random.seed(SEED)
np.random.seed(SEED)
mx.random.seed(SEED)


# ---------------------------------------------------------------- model
class SelfAttention(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dims, dims)
        self.key = nn.Linear(dims, dims)
        self.value = nn.Linear(dims, dims)

    def __call__(self, x, mask):
        B, L, D = x.shape
        h = self.heads
        q = self.query(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        k = self.key(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        v = self.value(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=q.shape[-1] ** -0.5, mask=mask)
        return out.transpose(0, 2, 1, 3).reshape(B, L, D)


class Attention(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.self = SelfAttention(dims, heads)
        self.output = nn.Linear(dims, dims)
        self.norm = nn.LayerNorm(dims)

    def __call__(self, x, mask):
        return self.norm(x + self.output(self.self(x, mask)))


class Layer(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.attention = Attention(dims, heads)
        self.intermediate = nn.Linear(dims, 2 * dims)
        self.out = nn.Linear(2 * dims, dims)
        self.norm = nn.LayerNorm(dims)

    def __call__(self, x, mask):
        x = self.attention(x, mask)
        return self.norm(x + self.out(nn.gelu(self.intermediate(x))))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = [Layer(HIDDEN, HEADS) for _ in range(LAYERS)]


@dataclass
class EncoderOutput:
    text_embeds: mx.array


class TinyBert(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = nn.Embedding(VOCAB, HIDDEN)
        self.position = nn.Embedding(SEQ, HIDDEN)
        self.encoder = Encoder()

    def __call__(self, input_ids, attention_mask):
        L = input_ids.shape[1]
        x = self.embeddings(input_ids) + self.position(mx.arange(L))
        mask = mx.where(attention_mask[:, None, None, :] > 0, 0.0, -1e9).astype(x.dtype)
        for layer in self.encoder.layer:
            x = layer(x, mask)
        m = attention_mask[..., None].astype(x.dtype)
        pooled = (x * m).sum(axis=1) / mx.maximum(m.sum(axis=1), 1.0)
        pooled = pooled / mx.maximum(mx.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
        return EncoderOutput(text_embeds=pooled)


def load_model() -> TinyBert:
    """Stand-in for pulling a 4-bit community checkpoint: build + quantize."""
    model = TinyBert()
    nn.quantize(model, group_size=64, bits=4,
                class_predicate=lambda p, m: isinstance(m, nn.Linear))
    mx.eval(model.parameters())
    return model


# ---------------------------------------------------------------- LoRA
def apply_lora_to_model(model, rank=8, alpha=16.0, dropout=0.0, target_modules=None):
    if target_modules is None:
        target_modules = TARGET_MODULES
    scale = alpha / rank
    adapted = 0
    for layer in model.encoder.layer:
        attention = layer.attention.self
        replacements = []
        for module_name in target_modules:
            if hasattr(attention, module_name):
                original_linear = getattr(attention, module_name)
                if isinstance(original_linear, nn.Linear):
                    replacements.append(
                        (module_name,
                         LoRALinear.from_base(original_linear, r=rank, dropout=dropout, scale=scale))
                    )
                    adapted += 1
        if replacements:
            attention.update_modules(tree_unflatten(replacements))
    print(f"Applied LoRA to {adapted} layers (rank={rank}, alpha={alpha}, scale={scale:.2f})")
    return model


def freeze_base_and_enable_lora(model):
    model.freeze()
    for _, module in model.named_modules():
        if isinstance(module, LoRALinear):
            module.unfreeze(keys=["lora_a", "lora_b"], recurse=False)
    return model


def count_parameters(model):
    total = sum(p.size for _, p in tree_flatten(model.parameters()))
    trainable = sum(p.size for _, p in tree_flatten(model.trainable_parameters()))
    return total, trainable


# ---------------------------------------------------------------- data
FILLER = np.arange(N_TOPICS * TOPIC_WORDS, VOCAB)
TOPIC_VOCAB = np.arange(N_TOPICS * TOPIC_WORDS).reshape(N_TOPICS, TOPIC_WORDS)


def make_text(topic, rng):
    n_topic = rng.integers(3, 5)
    n_fill = rng.integers(3, SEQ - n_topic + 1)
    words = list(rng.choice(TOPIC_VOCAB[topic], n_topic, replace=False))
    words += list(rng.choice(FILLER, n_fill, replace=False))
    rng.shuffle(words)
    return words


def make_pairs(n, rng):
    pairs = []
    for _ in range(n):
        t = int(rng.integers(N_TOPICS))
        pairs.append({"topic": t, "query": make_text(t, rng), "positive": make_text(t, rng)})
    return pairs


def tokenize_batch(texts: List[List[int]]):
    ids = np.zeros((len(texts), SEQ), dtype=np.int32)
    att = np.zeros((len(texts), SEQ), dtype=np.int32)
    for i, t in enumerate(texts):
        ids[i, : len(t)] = t
        att[i, : len(t)] = 1
    return {"input_ids": mx.array(ids), "attention_mask": mx.array(att)}


def batch_pairs(pairs, batch_size):
    for i in range(0, len(pairs), batch_size):
        b = pairs[i : i + batch_size]
        yield [p["query"] for p in b], [p["positive"] for p in b]


# ---------------------------------------------------------------- loss / eval
def encode_texts(model, input_ids, attention_mask):
    return model(input_ids=input_ids, attention_mask=attention_mask).text_embeds


def contrastive_loss(query_embeds, positive_embeds, temperature=TEMPERATURE):
    similarity = query_embeds @ positive_embeds.T
    logits = similarity / temperature
    labels = mx.arange(query_embeds.shape[0])
    log_probs = logits - mx.logsumexp(logits, axis=1, keepdims=True)
    return -mx.mean(log_probs[mx.arange(query_embeds.shape[0]), labels])


def evaluate(model, pairs):
    """Eval InfoNCE loss (batch 24) + recall@1 / MRR over the whole eval pool."""
    total, n = 0.0, 0
    for q, p in batch_pairs(pairs, BATCH):
        qt, pt = tokenize_batch(q), tokenize_batch(p)
        loss = contrastive_loss(encode_texts(model, **qt), encode_texts(model, **pt))
        total += loss.item() * len(q)
        n += len(q)
    qt = tokenize_batch([x["query"] for x in pairs])
    pt = tokenize_batch([x["positive"] for x in pairs])
    sims = encode_texts(model, **qt) @ encode_texts(model, **pt).T
    topics = np.array([x["topic"] for x in pairs])
    order = np.argsort(-np.array(sims), axis=1)
    hit1, rr = 0, 0.0
    for i in range(len(pairs)):
        ranked_topics = topics[order[i]]
        first = int(np.argmax(ranked_topics == topics[i]))
        hit1 += first == 0
        rr += 1.0 / (first + 1)
    return total / max(n, 1), hit1 / len(pairs), rr / len(pairs)


# ---------------------------------------------------------------- train
def main():
    rng = np.random.default_rng(SEED)
    train_pairs = make_pairs(768, rng)
    eval_pairs = make_pairs(128, rng)

    print("Loading 4-bit encoder...")
    model = load_model()
    base_loss, base_r1, base_mrr = evaluate(model, eval_pairs)
    print(f"Base model   | eval loss {base_loss:.4f} | recall@1 {base_r1:.3f} | MRR {base_mrr:.3f}")

    model = apply_lora_to_model(model, rank=LORA_RANK, alpha=LORA_ALPHA)
    model = freeze_base_and_enable_lora(model)
    total_params, trainable_params = count_parameters(model)
    print(f"Total parameters:     {total_params / 1e6:.3f}M")
    print(f"Trainable parameters: {trainable_params / 1e6:.3f}M "
          f"({trainable_params * 100 / total_params:.2f}%)")

    steps_per_epoch = math.ceil(len(train_pairs) / BATCH)
    total_steps = steps_per_epoch * EPOCHS
    warmup_steps = max(1, int(total_steps * 0.1))
    warmup_fn = opt.schedulers.linear_schedule(0.0, LR, warmup_steps)
    cosine_fn = opt.schedulers.cosine_decay(LR, max(1, total_steps - warmup_steps))
    lr_schedule = opt.schedulers.join_schedules([warmup_fn, cosine_fn], [warmup_steps])
    optimizer = opt.AdamW(learning_rate=lr_schedule, weight_decay=0.01)

    def loss_fn(model, q_ids, q_mask, p_ids, p_mask):
        return contrastive_loss(encode_texts(model, q_ids, q_mask), encode_texts(model, p_ids, p_mask))

    loss_and_grad_fn = nn.value_and_grad(model, loss_fn)

    step = 0
    t0 = time.time()
    model.train()
    for epoch in range(EPOCHS):
        shuffled = train_pairs.copy()
        random.shuffle(shuffled)
        run, cnt = 0.0, 0
        for q, p in batch_pairs(shuffled, BATCH):
            qt, pt = tokenize_batch(q), tokenize_batch(p)
            loss, grads = loss_and_grad_fn(model, qt["input_ids"], qt["attention_mask"],
                                           pt["input_ids"], pt["attention_mask"])
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state, loss)
            step += 1
            run += loss.item()
            cnt += 1
            if step % 12 == 0 or step == 1:
                lr = lr_schedule(step)
                print(f"Step {step:>4d}/{total_steps} | Epoch {epoch + 1}/{EPOCHS} | "
                      f"Loss {run / cnt:.4f} | LR {float(lr):.2e}")
                run, cnt = 0.0, 0
        model.eval()
        ev_loss, r1, mrr = evaluate(model, eval_pairs)
        model.train()
        print(f"== epoch {epoch + 1} | eval loss {ev_loss:.4f} | recall@1 {r1:.3f} "
              f"(base {base_r1:.3f}) | MRR {mrr:.3f} (base {base_mrr:.3f})")

    print(f"Training done in {time.time() - t0:.1f}s, {step} steps")
    ev_loss, r1, mrr = evaluate(model, eval_pairs)
    print(f"FINAL eval loss {ev_loss:.4f} | recall@1 {r1:.3f} | MRR {mrr:.3f}")


if __name__ == "__main__":
    main()
