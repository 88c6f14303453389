"""Tiny intent classifier (greeting / question / command) with an LSTM.

Follows the 'intent classification' notebook from an MLX NLP tutorial:
word-level vocab, right padding, Embedding -> LSTM -> last step -> Linear,
full-batch training for 30 epochs.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)

texts = [
    "hello there",
    "hi how are you",
    "good morning",
    "what time is it",
    "when is the meeting",
    "how do I do this",
    "please turn on the lights",
    "start the music",
    "open the door",
]
labels = ["greeting"] * 3 + ["question"] * 3 + ["command"] * 3

vocab = {"<PAD>": 0, "<UNK>": 1}
for t in texts:
    for w in t.lower().split():
        vocab.setdefault(w, len(vocab))

intents = sorted(set(labels))
intent2idx = {k: i for i, k in enumerate(intents)}
max_len = max(len(t.split()) for t in texts)


def encode(text):
    ids = [vocab.get(w.lower(), vocab["<UNK>"]) for w in text.split()]
    ids += [vocab["<PAD>"]] * (max_len - len(ids))
    return ids[:max_len]


X = mx.array([encode(t) for t in texts], dtype=mx.int32)
y = mx.array([intent2idx[l] for l in labels], dtype=mx.int32)


class IntentClassifier(nn.Module):
    def __init__(self, vocab_size, emb, hidden, n_cls):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb)
        self.lstm = nn.LSTM(emb, hidden, bias=True)
        self.linear = nn.Linear(hidden, n_cls)

    def __call__(self, x):
        h, _ = self.lstm(self.embedding(x))
        return self.linear(h[:, -1, :])


model = IntentClassifier(len(vocab), 32, 64, len(intents))
mx.eval(model.parameters())


def loss_fn(model):
    return mx.mean(nn.losses.cross_entropy(model(X), y))


def train(model, epochs=600, learning_rate=0.01):
    optimizer = optim.Adam(learning_rate=learning_rate)
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    hist = []
    for epoch in range(epochs):
        loss, grads = loss_and_grad(model)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        acc = mx.mean(mx.argmax(model(X), axis=1) == y).item()
        hist.append((loss.item(), acc))
        if (epoch + 1) % 60 == 0:
            print(f"Epoch {epoch + 1:3d} | Loss: {loss.item():.4f} | Accuracy: {acc * 100:.1f}%")
    return hist


t0 = time.time()
print(f"vocab={len(vocab)} max_len={max_len} examples={len(texts)} classes={intents}")
hist = train(model)
print(f"initial loss {hist[0][0]:.4f} -> final loss {hist[-1][0]:.4f}; "
      f"final train accuracy {hist[-1][1]:.2%} ({time.time() - t0:.1f}s)")

for text in ["hey there how are you", "what is the weather today", "please turn on the lights"]:
    logits = model(mx.array([encode(text)], dtype=mx.int32))
    p = mx.softmax(logits, axis=1)[0]
    k = mx.argmax(p).item()
    print(f"  {text!r:32s} -> {intents[k]:8s} ({p[k].item():.1%})")
