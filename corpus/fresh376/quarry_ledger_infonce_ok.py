"""Query/passage embedding fine-tune for a quarry parts ledger (tiny encoder, InfoNCE)."""
import time
from dataclasses import dataclass
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

SEED = 7
VOCAB = 768
N_TOPICS = 60
TOK_PER_SIDE = 6
BATCH = 16
ITERS = 300
STEPS_PER_REPORT = 25
STEPS_PER_EVAL = 100
TEMPERATURE = 0.07

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# each ledger topic has its own query words and its own (disjoint) passage words
perm = rng.permutation(np.arange(20, 20 + 2 * N_TOPICS * TOK_PER_SIDE))
QUERY_WORDS = perm[: N_TOPICS * TOK_PER_SIDE].reshape(N_TOPICS, TOK_PER_SIDE)
PASSAGE_WORDS = perm[N_TOPICS * TOK_PER_SIDE :].reshape(N_TOPICS, TOK_PER_SIDE)
FILLER = np.arange(1, 20)


def make_text(words, n_lo, n_hi):
    n = int(rng.integers(n_lo, n_hi + 1))
    toks = []
    for _ in range(n):
        if rng.random() < 0.35:
            toks.append(int(rng.choice(FILLER)))
        else:
            toks.append(int(rng.choice(words)))
    return toks


def make_pairs(n):
    topics = rng.integers(0, N_TOPICS, size=n)
    data = []
    for t in topics:
        q = make_text(QUERY_WORDS[t], 5, 10)
        p = make_text(PASSAGE_WORDS[t], 12, 24)
        data.append((q, p, None, int(t)))
    return data


train_set = make_pairs(3000)
val_set = make_pairs(256)


@dataclass
class EmbeddingOutput:
    last_hidden_state: mx.array
    text_embeds: mx.array


class TinyEncoder(nn.Module):
    def __init__(self, vocab=VOCAB, dims=64, hidden=128):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, dims)
        self.mlp = nn.Sequential(nn.Linear(dims, hidden), nn.GELU(), nn.Linear(hidden, dims))
        self.norm = nn.LayerNorm(dims)

    def __call__(self, input_ids):
        mask = (input_ids != 0).astype(mx.float32)[..., None]
        h = self.embed_tokens(input_ids)
        h = self.norm(h + self.mlp(h))
        pooled = (h * mask).sum(axis=1) / mx.maximum(mask.sum(axis=1), 1.0)
        emb = pooled / mx.maximum(mx.linalg.norm(pooled, axis=-1, keepdims=True), 1e-6)
        return EmbeddingOutput(last_hidden_state=h, text_embeds=emb)


def cosine_similarity(x, y):
    return mx.sum(x * y, axis=-1)


def infonce_loss(anchor, positive, negative, temperature=TEMPERATURE):
    pos_sim = cosine_similarity(anchor, positive) / temperature
    neg_sim = cosine_similarity(anchor, negative) / temperature
    numerator = mx.exp(pos_sim)
    denominator = numerator + mx.exp(neg_sim)
    loss = -mx.log(numerator / denominator)
    return loss


def create_in_batch_negatives(anchor_emb, positive_emb):
    batch_size = anchor_emb.shape[0]
    if batch_size == 1:
        return mx.random.normal(positive_emb.shape)
    indices = mx.concatenate([mx.arange(1, batch_size), mx.array([0])])
    negative_emb = anchor_emb[indices]
    return negative_emb


def pad_batch(sequences, pad_to=8):
    lengths = [len(x) for x in sequences]
    max_length = pad_to * ((max(lengths) + pad_to - 1) // pad_to)
    arr = np.zeros((len(sequences), max_length), np.int32)
    for j, s in enumerate(sequences):
        arr[j, : len(s)] = s
    return mx.array(arr), mx.array(lengths)


def iterate_batches(dataset, batch_size, train=False):
    while True:
        order = rng.permutation(len(dataset))
        for i in range(0, len(order) - batch_size + 1, batch_size):
            rows = [dataset[j] for j in order[i : i + batch_size]]
            anchors, positives, negatives, _ = zip(*rows)
            a, a_len = pad_batch(anchors)
            p, p_len = pad_batch(positives)
            n = pad_batch(negatives)[0] if negatives[0] is not None else None
            yield a, p, n, a_len, p_len
        if not train:
            break


def evaluate(model, dataset, batch_size, num_batches):
    all_losses = []
    for k, batch in enumerate(iterate_batches(dataset, batch_size)):
        if k >= num_batches:
            break
        anchors, positives, negatives, _, _ = batch
        anchor_emb = model(anchors).text_embeds
        positive_emb = model(positives).text_embeds
        if negatives is not None:
            negative_emb = model(negatives).text_embeds
        else:
            negative_emb = create_in_batch_negatives(anchor_emb, positive_emb)
        losses = infonce_loss(anchor_emb, positive_emb, negative_emb)
        mx.eval(losses)
        all_losses.append(losses)
    return mx.mean(mx.concatenate(all_losses)).item()


def recall_at_1(model, dataset):
    q, _ = pad_batch([d[0] for d in dataset])
    p, _ = pad_batch([d[1] for d in dataset])
    topics = np.array([d[3] for d in dataset])
    sims = model(q).text_embeds @ model(p).text_embeds.T
    best = np.array(mx.argmax(sims, axis=1))
    return float(np.mean(topics[best] == topics)) * 100.0


model = TinyEncoder()
mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=2e-3)


def embedding_loss(model, anchors, positives, negatives, anchor_lens, pos_lens):
    anchor_emb = model(anchors).text_embeds
    positive_emb = model(positives).text_embeds
    if negatives is not None:
        negative_emb = model(negatives).text_embeds
    else:
        negative_emb = create_in_batch_negatives(anchor_emb, positive_emb)
    losses = infonce_loss(anchor_emb, positive_emb, negative_emb)
    return mx.mean(losses), anchor_lens.sum()


loss_value_and_grad = nn.value_and_grad(model, embedding_loss)
state = [model.state, optimizer.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(a, p, a_len, p_len):
    (lvalue, toks), grad = loss_value_and_grad(model, a, p, None, a_len, p_len)
    optimizer.update(model, grad)
    return lvalue, toks


n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"Starting embedding training with infonce loss fn, iters: {ITERS}, params: {n_params}")
print(f"chance recall@1 ~ {100.0 / N_TOPICS:.1f}%")

batches = iterate_batches(train_set, BATCH, train=True)
losses, n_tokens, steps, train_time = 0.0, 0, 0, 0.0
for it in range(1, ITERS + 1):
    a, p, n, a_len, p_len = next(batches)
    if it == 1 or it % STEPS_PER_EVAL == 0 or it == ITERS:
        tic = time.perf_counter()
        val_loss = evaluate(model, val_set, BATCH, num_batches=8)
        r1 = recall_at_1(model, val_set)
        print(f"Iter {it}: Val loss {val_loss:.3f}, Val recall@1 {r1:.1f}%, Val took {time.perf_counter() - tic:.3f}s")
    tic = time.perf_counter()
    lvalue, toks = step(a, p, a_len, p_len)
    mx.eval(state, lvalue, toks)
    train_time += time.perf_counter() - tic
    losses += lvalue.item()
    n_tokens += toks.item()
    steps += 1
    if it % STEPS_PER_REPORT == 0 or it == ITERS:
        print(
            f"Iter {it}: Train loss {losses / steps:.3f}, "
            f"Learning Rate {optimizer.learning_rate.item():.3e}, "
            f"It/sec {steps / train_time:.2f}, Tokens/sec {n_tokens / train_time:.1f}"
        )
        losses, n_tokens, steps, train_time = 0.0, 0, 0, 0.0

print(f"final val recall@1 {recall_at_1(model, val_set):.1f}%")
