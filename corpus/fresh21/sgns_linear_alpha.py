# word2vec-style skip-gram with negative sampling on a synthetic corpus of
# "topic" sentences.  Two embedding tables (input / output vectors), plain SGD
# whose learning rate "alpha" decays linearly (from 0.025 per pair) towards ~0 over the run,
# like the original word2vec tool.  Progress is reported on one line that is
# rewritten with carriage returns; a summary line is printed at the end.
import random
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(5)
mx.random.seed(5)

VOCAB, TOPICS, DIM = 600, 12, 32
WINDOW, NEG, BATCH = 3, 5, 256
ALPHA0 = 0.025 * 256  # word2vec per-pair alpha 0.025, scaled because the loss is a batch mean

# corpus: each sentence draws words mostly from one topic's 50-word block
words_per_topic = VOCAB // TOPICS
corpus = []
for _ in range(3000):
    t = random.randrange(TOPICS)
    sent = [t * words_per_topic + random.randrange(words_per_topic) if random.random() < 0.85
            else random.randrange(VOCAB) for _ in range(12)]
    corpus.append(sent)

pairs = []
for sent in corpus:
    for i, w in enumerate(sent):
        for j in range(max(0, i - WINDOW), min(len(sent), i + WINDOW + 1)):
            if j != i:
                pairs.append((w, sent[j]))
random.shuffle(pairs)
centers = mx.array([p[0] for p in pairs])
contexts = mx.array([p[1] for p in pairs])
n_batches = len(pairs) // BATCH

# unigram^0.75 noise distribution
counts = [0] * VOCAB
for sent in corpus:
    for w in sent:
        counts[w] += 1
noise_logits = mx.log(mx.array(counts, dtype=mx.float32) ** 0.75)


class SGNS(nn.Module):
    def __init__(self):
        super().__init__()
        self.w_in = nn.Embedding(VOCAB, DIM)
        self.w_out = nn.Embedding(VOCAB, DIM)
        self.w_in.weight = (mx.random.uniform(shape=(VOCAB, DIM)) - 0.5) / DIM
        self.w_out.weight = 0.01 * mx.random.normal((VOCAB, DIM))

    def __call__(self, c, o, neg):
        v = self.w_in(c)                       # (B, D)
        u_pos = self.w_out(o)                  # (B, D)
        u_neg = self.w_out(neg)                # (B, K, D)
        pos = nn.log_sigmoid(mx.sum(v * u_pos, axis=-1))
        negs = nn.log_sigmoid(-mx.sum(u_neg * v[:, None, :], axis=-1)).sum(axis=-1)
        return -mx.mean(pos + negs)


model = SGNS()
opt = optim.SGD(learning_rate=ALPHA0)
vg = nn.value_and_grad(model, lambda m, c, o, n: m(c, o, n))

EPOCHS = 10
total = EPOCHS * n_batches
done = 0
t0 = time.time()
window_loss, window_n = 0.0, 0
for epoch in range(EPOCHS):
    for b in range(n_batches):
        alpha = max(ALPHA0 * 1e-4, ALPHA0 * (1.0 - done / total))
        opt.learning_rate = alpha
        c = centers[b * BATCH:(b + 1) * BATCH]
        o = contexts[b * BATCH:(b + 1) * BATCH]
        neg = mx.random.categorical(noise_logits, shape=(BATCH, NEG))
        loss, grads = vg(model, c, o, neg)
        opt.update(model, grads)
        mx.eval(model.parameters(), loss)
        done += 1
        window_loss += loss.item()
        window_n += 1
        if done % 100 == 0:
            rate = done * BATCH / (time.time() - t0)
            sys.stdout.write(f"\rAlpha: {alpha:.6f}  Progress: {100.0 * done / total:6.2f}%  "
                             f"Pairs/sec: {rate / 1000:.1f}k  loss: {window_loss / window_n:.4f}  ")
            sys.stdout.flush()
            window_loss, window_n = 0.0, 0

# nearest neighbours inside the same topic block = a sanity check of the vectors
E = model.w_in.weight
E = E / mx.linalg.norm(E, axis=1, keepdims=True)
sims = E @ E.T - 2.0 * mx.eye(VOCAB)
nn_idx = mx.argmax(sims, axis=1)
same_topic = mx.mean((nn_idx // words_per_topic == mx.arange(VOCAB) // words_per_topic).astype(mx.float32)).item()
sys.stdout.write(f"\nTraining finished: {done} batches, {time.time() - t0:.1f}s, "
                 f"nearest-neighbour same-topic rate {same_topic:.3f} (chance {1 / TOPICS:.3f})\n")
