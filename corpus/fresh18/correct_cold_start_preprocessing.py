"""Sentiment-ish bag-of-ngrams classifier. Before the first training step the
script builds hashed character n-gram features for 48k synthetic reviews in pure
Python (silent for several seconds), then trains quickly with AdamW."""
import random
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(7)
POS = ["great", "love", "excellent", "fantastic", "superb", "enjoyed", "wonderful"]
NEG = ["awful", "hate", "terrible", "boring", "waste", "broken", "poor"]
FILL = ["the", "movie", "plot", "actor", "was", "and", "it", "really", "a", "bit", "this", "film"]
N_BUCKETS = 512


def make_review():
    label = random.random() < 0.5
    words = [random.choice(FILL) for _ in range(random.randint(8, 20))]
    for _ in range(random.randint(1, 3)):
        words.insert(random.randrange(len(words)), random.choice(POS if label else NEG))
    if random.random() < 0.1:
        label = not label  # ~10% noisy labels
    return " ".join(words), int(label)


def featurize(text):
    counts = [0.0] * N_BUCKETS
    padded = f"^{text}$"
    for n in (2, 3, 4, 5, 6):
        for i in range(len(padded) - n + 1):
            counts[hash(padded[i:i + n]) % N_BUCKETS] += 1.0
    total = sum(counts)
    return [c / total for c in counts]


t0 = time.time()
reviews = [make_review() for _ in range(48000)]
feats = np.zeros((len(reviews), N_BUCKETS), dtype=np.float32)
for i, (text, _) in enumerate(reviews):
    feats[i] = featurize(text)
X = mx.array(feats) * 50.0
Y = mx.array([l for _, l in reviews])
print(f"preprocessed {len(reviews)} reviews in {time.time() - t0:.1f}s", flush=True)

Xtr, Ytr, Xva, Yva = X[:44000], Y[:44000], X[44000:], Y[44000:]
model = nn.Sequential(nn.Linear(N_BUCKETS, 32), nn.ReLU(), nn.Linear(32, 2))
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
step = nn.value_and_grad(model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
for epoch in range(1, 4):
    perm = mx.random.permutation(44000)
    tot = 0.0
    for i in range(0, 44000, 512):
        idx = perm[i:i + 512]
        loss, grads = step(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    acc = mx.mean(mx.argmax(model(Xva), axis=1) == Yva).item()
    print(f"epoch {epoch}: train_ce={tot / 86:.4f} val_acc={acc:.3f}", flush=True)
