"""Skip-gram with negative sampling (word2vec) on a synthetic topical corpus.

Progress is printed word2vec-style on one carriage-return line; the learning
rate (alpha) decays linearly to ~0 like the original C tool.
"""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
N_TOPICS, WORDS_PER_TOPIC = 12, 30
V = N_TOPICS * WORDS_PER_TOPIC
DIM, WINDOW, NEG, BATCH = 32, 3, 5, 1024


def make_corpus(n_sentences=4000, length=12):
    sents = []
    for _ in range(n_sentences):
        t = rng.integers(N_TOPICS)
        own = rng.integers(WORDS_PER_TOPIC, size=length) + t * WORDS_PER_TOPIC
        noise = rng.integers(V, size=length)
        sents.append(np.where(rng.random(length) < 0.8, own, noise))
    return sents


def make_pairs(sents):
    c, o = [], []
    for s in sents:
        for i, w in enumerate(s):
            for j in range(max(0, i - WINDOW), min(len(s), i + WINDOW + 1)):
                if j != i:
                    c.append(w)
                    o.append(s[j])
    return np.array(c), np.array(o)


class SkipGram(nn.Module):
    def __init__(self):
        super().__init__()
        self.in_embed = nn.Embedding(V, DIM)
        self.out_embed = nn.Embedding(V, DIM)
        self.in_embed.weight = (mx.random.uniform(shape=(V, DIM)) - 0.5) / DIM
        self.out_embed.weight = mx.zeros((V, DIM)) + 0.001 * mx.random.normal((V, DIM))


def sgns_loss(model, center, context, negatives):
    v = model.in_embed(center)                      # (B, D)
    u = model.out_embed(context)                    # (B, D)
    un = model.out_embed(negatives)                 # (B, K, D)
    pos = nn.log_sigmoid(mx.sum(v * u, axis=-1))
    neg = nn.log_sigmoid(-mx.sum(un * v[:, None, :], axis=-1)).sum(axis=-1)
    return -mx.sum(pos + neg)  # summed like per-pair SGD in word2vec.c


def topic_purity(model, k=5):
    E = model.in_embed.weight
    E = E / mx.linalg.norm(E, axis=1, keepdims=True)
    sims = E @ E.T - 2 * mx.eye(V)
    nn_idx = np.array(mx.argsort(-sims, axis=1)[:, :k])
    topics = np.arange(V) // WORDS_PER_TOPIC
    return float((topics[nn_idx] == topics[:, None]).mean())


def main():
    mx.random.seed(11)
    sents = make_corpus()
    centers, contexts = make_pairs(sents)
    counts = np.bincount(np.concatenate(sents), minlength=V).astype(np.float64)
    unigram = counts**0.75 / (counts**0.75).sum()
    model = SkipGram()
    mx.eval(model.parameters())
    start_alpha, epochs = 0.025, 3
    opt = optim.SGD(learning_rate=start_alpha)
    step_fn = nn.value_and_grad(model, sgns_loss)
    print(f"Vocab size: {V}\nWords in train file: {sum(len(s) for s in sents)}\nTraining pairs: {len(centers)}")
    print(f"purity@5 before training: {topic_purity(model):.3f}")
    total_steps = epochs * (len(centers) // BATCH)
    step, t0, run_loss = 0, time.time(), None
    for ep in range(epochs):
        perm = rng.permutation(len(centers))
        for b in range(len(centers) // BATCH):
            idx = perm[b * BATCH : (b + 1) * BATCH]
            negs = rng.choice(V, size=(BATCH, NEG), p=unigram)
            alpha = start_alpha * max(1.0 - step / total_steps, 0.0001)
            opt.learning_rate = alpha
            loss, grads = step_fn(model, mx.array(centers[idx]), mx.array(contexts[idx]), mx.array(negs))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            l = loss.item() / BATCH
            run_loss = l if run_loss is None else 0.95 * run_loss + 0.05 * l
            step += 1
            if step % 25 == 0:
                wps = step * BATCH / (time.time() - t0)
                sys.stdout.write(
                    f"\rAlpha: {alpha:.6f}  Progress: {100.0 * step / total_steps:.2f}%  "
                    f"Loss: {run_loss:.4f}  Pairs/sec: {wps / 1000:.1f}k  "
                )
                sys.stdout.flush()
    sys.stdout.write("\n")
    print(f"purity@5 after training: {topic_purity(model):.3f}")


if __name__ == "__main__":
    main()
