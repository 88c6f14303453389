"""Tiny intent classifier (LSTM) in MLX, trained on synthetic commands,
then checked on held-out phrases through the predict helper."""
import random
import time
from typing import List, Tuple

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(3)
np.random.seed(3)
mx.random.seed(3)

INTENTS = {
    "greeting": (["hello", "hi", "hey", "good", "morning", "evening"],
                 ["there", "friend", "assistant", "buddy", "team"]),
    "weather": (["weather", "rain", "sunny", "forecast", "temperature", "cold"],
                ["today", "tomorrow", "outside", "tonight", "weekend"]),
    "music": (["play", "song", "music", "album", "playlist", "track"],
              ["loud", "jazz", "rock", "next", "favorite"]),
    "timer": (["timer", "alarm", "remind", "minutes", "countdown", "wake"],
              ["five", "ten", "later", "seconds", "hour"]),
    "shopping": (["buy", "order", "cart", "groceries", "purchase", "shop"],
                 ["milk", "bread", "eggs", "coffee", "apples"]),
}
FILLER = ["please", "can", "you", "the", "me", "now", "some", "i", "want", "what", "is"]


def make_sentence(intent: str) -> str:
    keys, extra = INTENTS[intent]
    words = random.sample(keys, 2) + random.sample(extra, 1) + random.sample(FILLER, 2)
    random.shuffle(words)
    return " ".join(words)


def make_split(n_per_intent: int) -> Tuple[List[str], List[int]]:
    texts, labels = [], []
    for idx, name in enumerate(INTENTS):
        for _ in range(n_per_intent):
            texts.append(make_sentence(name))
            labels.append(idx)
    return texts, labels


class IntentLSTM(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_size, output_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size)
        self.linear = nn.Linear(hidden_size, output_size)

    def __call__(self, x):
        embedded = self.embedding(x)
        lstm_out, _ = self.lstm(embedded)
        return self.linear(lstm_out[:, -1, :])


def create_vocabulary(texts: List[str]):
    vocab = set()
    for text in texts:
        for word in text.lower().split():
            vocab.add(word)
    word_to_idx = {word: i + 2 for i, word in enumerate(sorted(vocab))}
    word_to_idx['<PAD>'] = 0
    word_to_idx['<UNK>'] = 1
    return set(word_to_idx.keys()), word_to_idx


def texts_to_sequences(texts, word_to_idx):
    return [[word_to_idx.get(w, word_to_idx['<UNK>']) for w in t.lower().split()] for t in texts]


def pad_sequences(sequences, max_len):
    padded = np.zeros((len(sequences), max_len), dtype=np.int32)
    for i, seq in enumerate(sequences):
        n = min(len(seq), max_len)
        padded[i, :n] = seq[:n]
    return padded


def train_model(model, X, y, epochs=60, learning_rate=0.003):
    optimizer = optim.Adam(learning_rate=learning_rate)

    def loss_fn(model, X, y):
        return mx.mean(nn.losses.cross_entropy(model(X), y))

    loss_and_grad_fn = nn.value_and_grad(model, loss_fn)
    X, y = mx.array(X), mx.array(y)
    for epoch in range(epochs):
        loss, grads = loss_and_grad_fn(model, X, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        acc = mx.mean(mx.argmax(model(X), axis=1) == y)
        if epoch == 0 or (epoch + 1) % 10 == 0:
            print(f"Epoch {epoch + 1:3d}/{epochs} - Loss: {loss.item():.4f} - Accuracy: {acc.item():.4f}")
    return model


def predict_intent(model, text: str, vocab: set, intent_names: List[str], max_len: int):
    """Predict intent for a single text"""
    word_to_idx = {word: i + 2 for i, word in enumerate(sorted(vocab))}
    word_to_idx['<PAD>'] = 0
    word_to_idx['<UNK>'] = 1

    tokens = [word_to_idx.get(word.lower(), word_to_idx['<UNK>']) for word in text.split()]
    tokens = tokens[:max_len] + [0] * (max_len - len(tokens))
    probs = mx.softmax(model(mx.array([tokens])), axis=-1)[0]
    pred_idx = int(mx.argmax(probs))
    return intent_names[pred_idx], float(probs[pred_idx])


def main():
    t0 = time.time()
    intent_names = list(INTENTS)
    train_texts, train_labels = make_split(150)
    test_texts, test_labels = make_split(20)
    vocab, word_to_idx = create_vocabulary(train_texts)
    max_len = 6
    X = pad_sequences(texts_to_sequences(train_texts, word_to_idx), max_len)
    print(f"vocab={len(vocab)} train={len(train_texts)} test={len(test_texts)}")

    model = IntentLSTM(len(vocab), 32, 64, len(intent_names))
    mx.eval(model.parameters())
    train_model(model, X, np.array(train_labels, dtype=np.int32))

    correct = 0
    for text, label in zip(test_texts, test_labels):
        intent, conf = predict_intent(model, text, vocab, intent_names, max_len)
        correct += int(intent == intent_names[label])
    for text in test_texts[::20][:3]:
        intent, conf = predict_intent(model, text, vocab, intent_names, max_len)
        print(f"  '{text}' -> {intent} ({conf:.2f})")
    print(f"held-out accuracy: {correct / len(test_texts):.3f}  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
