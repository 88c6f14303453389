"""Fine-tune a tiny bidirectional text encoder for harbour-log retrieval.

Each harbour log entry (a berth, a cargo, a tide window ...) is a bag of
content tokens.  Two clerks write the same entry in different words: each
view keeps most of the content tokens, adds filler, and is shuffled.  The
embedding model (encoder -> mean pooling -> dense projection -> L2 norm,
the sentence-transformers layout) is trained with in-batch InfoNCE so that
the two views of one entry land next to each other.
"""

import time
from typing import Optional

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

VOCAB = 400
PAD = 0
MAX_LEN = 12
HIDDEN = 32
BATCH = 64
STEPS = 400
LR = 1e-3

rng = np.random.default_rng(7)


def make_entries(n):
    # content tokens come from 1..299, filler tokens from 300..399
    return np.stack([rng.choice(np.arange(1, 300), 5, replace=False) for _ in range(n)])


def make_view(entry):
    keep = rng.choice(entry, 4, replace=False)
    filler = rng.integers(300, VOCAB, rng.integers(1, 5))
    toks = np.concatenate([keep, filler])
    rng.shuffle(toks)
    ids = np.full(MAX_LEN, PAD, dtype=np.int32)
    ids[: len(toks)] = toks
    mask = (ids != PAD).astype(np.float32)
    return ids, mask


def make_batch(entries):
    a = [make_view(e) for e in entries]
    b = [make_view(e) for e in entries]
    return (
        mx.array(np.stack([x[0] for x in a])),
        mx.array(np.stack([x[1] for x in a])),
        mx.array(np.stack([x[0] for x in b])),
        mx.array(np.stack([x[1] for x in b])),
    )


def mean_pooling(token_embeddings: mx.array, attention_mask: mx.array):
    input_mask_expanded = mx.expand_dims(attention_mask, -1)
    input_mask_expanded = mx.broadcast_to(
        input_mask_expanded, token_embeddings.shape
    ).astype(mx.float32)
    sum_embeddings = mx.sum(token_embeddings * input_mask_expanded, axis=1)
    sum_mask = mx.maximum(mx.sum(input_mask_expanded, axis=1), 1e-9)
    return sum_embeddings / sum_mask


def normalize_embeddings(embeddings, p=2, axis=-1, keepdims=True, eps=1e-9):
    return embeddings / mx.maximum(
        mx.linalg.norm(embeddings, ord=p, axis=axis, keepdims=keepdims), eps
    )


class HarbourEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, HIDDEN)
        self.layers = nn.TransformerEncoder(1, HIDDEN, 4, mlp_dims=64, norm_first=True)

    def __call__(self, input_ids, attention_mask):
        h = self.embed_tokens(input_ids)
        additive = mx.where(attention_mask == 1, 0.0, -1e9)[:, None, None, :]
        h = self.layers(h, additive)
        return {"last_hidden_state": h}


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = HarbourEncoder()
        self.dense = [
            nn.Linear(HIDDEN, HIDDEN * 4, bias=False),
            nn.Linear(HIDDEN * 4, HIDDEN, bias=False),
        ]

    def __call__(
        self,
        input_ids: mx.array,
        attention_mask: Optional[mx.array] = None,
        return_dict: Optional[bool] = True,
    ):
        if attention_mask is None:
            attention_mask = mx.ones(input_ids.shape)

        out = self.model(input_ids, attention_mask)
        last_hidden_state = (
            out["last_hidden_state"] if isinstance(out, dict) else out[0]
        )

        text_embeds = mean_pooling(last_hidden_state, attention_mask)

        for layer in self.dense:
            text_embeds = layer(text_embeds)

        text_embeds = normalize_embeddings(text_embeds)

        if not return_dict:
            return (text_embeds, last_hidden_state)

        return {
            "embeddings": text_embeds,
            "last_hidden_state": last_hidden_state,
        }


def info_nce(model, ids_a, mask_a, ids_b, mask_b, scale=20.0):
    ea = model(ids_a, mask_a)["embeddings"]
    eb = model(ids_b, mask_b)["embeddings"]
    logits = scale * (ea @ eb.T)
    target = mx.arange(logits.shape[0])
    l1 = nn.losses.cross_entropy(logits, target, reduction="mean")
    l2 = nn.losses.cross_entropy(logits.T, target, reduction="mean")
    return 0.5 * (l1 + l2)


def recall_at_1(model, batch):
    ids_a, mask_a, ids_b, mask_b = batch
    ea = model(ids_a, mask_a)["embeddings"]
    eb = model(ids_b, mask_b)["embeddings"]
    hits = mx.argmax(ea @ eb.T, axis=1) == mx.arange(ea.shape[0])
    return hits.astype(mx.float32).mean().item()


def group_norms(model):
    flat = dict(tree_flatten(model.parameters()))
    out = {}
    for k, v in flat.items():
        g = k.split(".")[0]
        out[g] = out.get(g, 0.0) + float(mx.sum(v * v).item())
    return {g: s ** 0.5 for g, s in out.items()}


def main():
    mx.random.seed(0)
    model = Model()
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"harbour retriever: {n_params} trainable weights, batch {BATCH}, steps {STEPS}")

    eval_batch = make_batch(make_entries(256))
    opt = optim.Adam(learning_rate=LR)
    loss_and_grad = nn.value_and_grad(model, info_nce)

    start = group_norms(model)
    print(f"step    0  recall@1 {recall_at_1(model, eval_batch):.3f}  (chance {1/256:.3f})")
    t0 = time.time()
    running = 0.0
    for step in range(1, STEPS + 1):
        batch = make_batch(make_entries(BATCH))
        loss, grads = loss_and_grad(model, *batch)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
        if step % 50 == 0:
            r1 = recall_at_1(model, eval_batch)
            print(
                f"step {step:4d}  infonce {running / 50:.4f}  recall@1 {r1:.3f}  "
                f"({time.time() - t0:.1f}s)"
            )
            running = 0.0

    end = group_norms(model)
    print("weight norms at save time:")
    for g in start:
        print(f"  {g:6s} {start[g]:9.4f} -> {end[g]:9.4f}")
    print(f"final recall@1 {recall_at_1(model, eval_batch):.3f}")


if __name__ == "__main__":
    main()
