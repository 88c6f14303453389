# Tiny BERT-style masked-token pretraining on synthetic "quarry tally" sequences.
import math
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)

VOCAB = 24
MASK_ID = 1
SEQ = 12
DIM = 32
HEADS = 2
LAYERS = 1


class Embedding(nn.Module):
    def __init__(self, vocab_size, block_size, dim):
        super().__init__()
        self.token_embeddings = nn.Embedding(vocab_size, dim)
        self.positional_embeddings = nn.Embedding(block_size, dim)
        self.layer_norm = nn.LayerNorm(dims=dim)

    def __call__(self, tokens):
        B, T = tokens.shape
        positions = mx.broadcast_to(mx.arange(T), (B, T))
        return self.layer_norm(self.token_embeddings(tokens) + self.positional_embeddings(positions))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.attention = nn.MultiHeadAttention(dim, heads)
        self.layer_norm1 = nn.LayerNorm(dim)
        self.feedforward = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.layer_norm2 = nn.LayerNorm(dim)

    def __call__(self, x):
        x = self.layer_norm1(x + self.attention(x, x, x))
        return self.layer_norm2(x + self.feedforward(x))


class TinyBert(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = Embedding(VOCAB, SEQ, DIM)
        self.blocks = [Block(DIM, HEADS) for _ in range(LAYERS)]
        self.output_proj = nn.Linear(DIM, VOCAB)

    def __call__(self, tokens):
        x = self.embedding(tokens)
        for block in self.blocks:
            x = block(x)
        return self.output_proj(x)


def make_corpus(n):
    # each row: a start value then an arithmetic run modulo 22, offset by 2 (ids 0/1 reserved)
    start = mx.random.randint(0, 22, (n, 1))
    step = mx.random.randint(1, 4, (n, 1))
    seq = (start + step * mx.arange(SEQ)[None, :]) % 22 + 2
    return seq.astype(mx.int32)


def mask_tokens(inputs, p=0.2):
    labels = mx.full(inputs.shape, vals=-100, dtype=mx.int32)
    chosen = mx.random.uniform(shape=inputs.shape) < p
    labels = mx.where(chosen, inputs, labels)
    inputs = mx.where(chosen, MASK_ID, inputs)
    return inputs, labels


def compute_loss(model, inputs, targets):
    logits = model(inputs)
    mask = targets != -100
    safe = mx.where(mask, targets, 0)
    losses = nn.losses.cross_entropy(logits, safe, reduction="none")
    masked = losses * mask.astype(losses.dtype)
    return masked.sum() / mx.maximum(mask.sum(), 1)


def evaluate(model, data, batch_size):
    total, hits, count = 0.0, 0, 0
    nb = data["input_ids"].shape[0] // batch_size
    for i in range(nb):
        x = data["input_ids"][i * batch_size:(i + 1) * batch_size]
        y = data["labels"][i * batch_size:(i + 1) * batch_size]
        total += compute_loss(model, x, y).item()
        pred = mx.argmax(model(x), axis=-1)
        m = y != -100
        hits += (mx.where(m, pred == y, False)).sum().item()
        count += m.sum().item()
    return total / nb, hits / max(count, 1)


def train(model, train_data, val_data, batch_size, num_epochs, learning_rate):
    optimizer = optim.AdamW(learning_rate=learning_rate)
    loss_and_grad_fn = nn.value_and_grad(model, compute_loss)
    for epoch in range(num_epochs):
        total_loss = 0.0
        num_batches = train_data["input_ids"].shape[0] // batch_size
        t0 = time.time()
        for i in range(num_batches):
            start = i * batch_size
            end = start + batch_size
            batch_input = train_data["input_ids"][start:end]
            batch_labels = train_data["labels"][start:end]

            loss, grads = loss_and_grad_fn(model, batch_input, batch_labels)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state)

            total_loss += loss.item()
        avg_loss = total_loss / num_batches
        val_loss, val_acc = evaluate(model, val_data, batch_size)
        print(f"Epoch {epoch + 1} avg loss: {avg_loss:.4f} | val loss {val_loss:.4f} | "
              f"val masked acc {val_acc:.3f} | {time.time() - t0:.1f}s")


if __name__ == "__main__":
    model = TinyBert()
    mx.eval(model.parameters())
    print("model setup")
    train_ids, train_labels = mask_tokens(make_corpus(768))
    val_ids, val_labels = mask_tokens(make_corpus(128))
    train_data = {"input_ids": train_ids, "labels": train_labels}
    val_data = {"input_ids": val_ids, "labels": val_labels}
    print(f"uniform-guess loss ln({VOCAB}) = {math.log(VOCAB):.4f}")
    print("starting to train")
    train(model, train_data, val_data, batch_size=32, num_epochs=14, learning_rate=3e-3)
    print("done")
