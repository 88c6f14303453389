"""Tiny BERT-style extractive reader on a synthetic gazetteer.

Stage 1 trains a small encoder with a BIOE tagging head and writes the
encoder checkpoint (plus its pooler) to disk, the way a base checkpoint
ships. Stage 2 builds the QA model (encoder + start/end head), loads the
base checkpoint and fine-tunes on start/end positions, then reports
exact match on held-out questions.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

VOCAB = 96
CLS, SEP, PAD, END = 0, 1, 2, 3
HIT = 4                     # key named by the question
KEY_LO, KEY_HI = 5, 12      # other entity keys
VAL_LO, VAL_HI = 12, 96     # value tokens
CTX_LEN = 20
Q_LEN = 2
SEQ = 1 + Q_LEN + 1 + CTX_LEN
HIDDEN = 32
HEADS = 4
LAYERS = 2


class Config:
    vocab_size = VOCAB
    hidden_size = HIDDEN
    num_attention_heads = HEADS
    num_hidden_layers = LAYERS
    max_position_embeddings = 32
    type_vocab_size = 2
    num_labels = 2


class Embeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size)

    def __call__(self, input_ids, token_type_ids):
        pos = mx.arange(input_ids.shape[1])[None, :]
        x = (self.word_embeddings(input_ids) + self.position_embeddings(pos)
             + self.token_type_embeddings(token_type_ids))
        return self.norm(x)


class Bert(nn.Module):
    def __init__(self, config, add_pooler=True):
        super().__init__()
        self.embeddings = Embeddings(config)
        self.encoder = nn.TransformerEncoder(
            num_layers=config.num_hidden_layers,
            dims=config.hidden_size,
            num_heads=config.num_attention_heads,
            mlp_dims=2 * config.hidden_size,
        )
        if add_pooler:
            self.pooler = nn.Linear(config.hidden_size, config.hidden_size)

    def __call__(self, input_ids, token_type_ids, attention_mask):
        x = self.embeddings(input_ids, token_type_ids)
        mask = (1.0 - attention_mask[:, None, None, :].astype(x.dtype)) * -1e9
        return self.encoder(x, mask)


class BertTagger(nn.Module):
    """Stage 1 model: encoder + pooler + BIOE tag head."""

    def __init__(self, config):
        super().__init__()
        self.bert = Bert(config, add_pooler=True)
        self.tag = nn.Linear(config.hidden_size, 4)

    def __call__(self, input_ids, token_type_ids, attention_mask):
        h = self.bert(input_ids, token_type_ids, attention_mask)
        _ = mx.tanh(self.bert.pooler(h[:, 0]))
        return self.tag(h)


class BertQA(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.model = Bert(config, add_pooler=False)
        self.num_labels = config.num_labels
        self.qa_output = nn.Linear(config.hidden_size, config.num_labels)

    def __call__(self, input_ids, token_type_ids, attention_mask):
        outputs = self.model(input_ids=input_ids, token_type_ids=token_type_ids,
                             attention_mask=attention_mask)
        logits = self.qa_output(outputs)
        start_logits, end_logits = mx.split(logits, indices_or_sections=2, axis=-1)
        return start_logits.squeeze(-1), end_logits.squeeze(-1)


def make_batch(rng, n):
    """[CLS] q1 q2 [SEP] context... ; answer = values after the matching key."""
    ids = np.full((n, SEQ), PAD, dtype=np.int32)
    tt = np.zeros((n, SEQ), dtype=np.int32)
    am = np.ones((n, SEQ), dtype=np.int32)
    starts = np.zeros(n, dtype=np.int32)
    ends = np.zeros(n, dtype=np.int32)
    tags = np.zeros((n, SEQ), dtype=np.int32)
    off = 1 + Q_LEN + 1
    for i in range(n):
        keys = rng.choice(np.arange(KEY_LO, KEY_HI), size=4, replace=False)
        j = rng.integers(0, 3)
        keys[j] = HIT
        ctx = []
        spans = []
        for k in keys:
            vlen = rng.integers(1, 4)
            vals = rng.integers(VAL_LO, VAL_HI, size=vlen)
            ctx.append(k)
            s = len(ctx)
            ctx.extend(vals.tolist())
            spans.append((s, len(ctx) - 1))
            ctx.append(END)
        ctx = ctx[:CTX_LEN]
        q = [HIT, rng.integers(VAL_LO, VAL_HI)]
        row = [CLS] + q + [SEP] + ctx
        ids[i, :len(row)] = row
        am[i, len(row):] = 0
        tt[i, off:len(row)] = 1
        starts[i] = off + spans[j][0]
        ends[i] = off + spans[j][1]
        tags[i, starts[i]] = 1
        tags[i, starts[i] + 1:ends[i] + 1] = 2
        tags[i, ends[i]] = 3 if ends[i] > starts[i] else 1
    return (mx.array(ids), mx.array(tt), mx.array(am),
            mx.array(starts), mx.array(ends), mx.array(tags))


def pretrain(path, steps=500):
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    model = BertTagger(Config())
    opt = optim.AdamW(learning_rate=3e-3)

    def loss_fn(m, ids, tt, am, tags):
        logits = m(ids, tt, am)
        ce = nn.losses.cross_entropy(logits, tags, reduction="none")
        return (ce * tt).sum() / tt.sum()

    step = nn.value_and_grad(model, loss_fn)
    for it in range(1, steps + 1):
        ids, tt, am, _, _, tags = make_batch(rng, 16)
        loss, grads = step(model, ids, tt, am, tags)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if it % 100 == 0:
            print(f"[base] step {it:4d}  tag loss {loss.item():.4f}")
    weights = dict(tree_flatten(model.bert.parameters()))
    mx.savez(path, **weights)
    print(f"[base] saved {len(weights)} tensors to {os.path.basename(path)}")


def compute_loss(start_logits, end_logits, start_positions, end_positions, reduction="mean"):
    s = nn.losses.cross_entropy(start_logits, start_positions, reduction=reduction)
    e = nn.losses.cross_entropy(end_logits, end_positions, reduction=reduction)
    return (s + e) / 2


def loss_fn(model, input_ids, token_type_ids, attention_mask, start_positions,
            end_positions, reduction="mean"):
    start_logits, end_logits = model(input_ids=input_ids, token_type_ids=token_type_ids,
                                     attention_mask=attention_mask)
    return compute_loss(start_logits, end_logits, start_positions, end_positions,
                        reduction=reduction)


def exact_match(model, batch):
    ids, tt, am, sp, ep, _ = batch
    s, e = model(ids, tt, am)
    neg = (1 - tt) * -1e9
    ps = mx.argmax(s + neg, axis=-1)
    pe = mx.argmax(e + neg, axis=-1)
    return ((ps == sp) & (pe == ep)).astype(mx.float32).mean().item()


def load_model(weights_pretrain_path):
    model = BertQA(Config())
    # strict=False to omit loading pooler.bias, pooler.weight
    model.load_weights(weights_pretrain_path, strict=False)
    return model


def main():
    tmp = tempfile.mkdtemp()
    base_path = os.path.join(tmp, "tiny-bert-base.npz")
    print("Stage 1: base encoder")
    pretrain(base_path)

    print("Stage 2: fine-tune for Q&A")
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    model = load_model(base_path)
    opt = optim.AdamW(learning_rate=1e-4, weight_decay=0.01)
    val = make_batch(np.random.default_rng(123), 512)
    print(f"Before fine-tuning: val EM {exact_match(model, val):.3f}")
    step = nn.value_and_grad(model, loss_fn)
    tic = time.perf_counter()
    losses = []
    for it in range(1, 301):
        ids, tt, am, sp, ep, _ = make_batch(rng, 16)
        loss, grads = step(model, ids, tt, am, sp, ep)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        losses.append(loss.item())
        if it % 50 == 0:
            toc = time.perf_counter()
            print(f"Iter {it}: Train loss {np.mean(losses):.3f}, It/sec {50 / (toc - tic):.1f}")
            losses = []
            tic = toc
        if it % 100 == 0:
            vl = loss_fn(model, *val[:5]).item()
            print(f"Iter {it}: Val loss {vl:.3f}, Val EM {exact_match(model, val):.3f}")
    test = make_batch(np.random.default_rng(999), 512)
    print(f"Test EM {exact_match(model, test):.3f}")


if __name__ == "__main__":
    main()
