"""Bigram language model on padded sequences; the per-token loss is kept
unreduced so padding can be masked out, then normalised by the token count."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, PAD = 24, 0


class Bigram(nn.Module):
    def __init__(self, vocab=VOCAB, dim=32):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.lm_head = nn.Linear(dim, vocab)

    def __call__(self, ids):
        return self.lm_head(nn.relu(self.tok(ids)))


def corpus(n=512, max_len=16, seed=4):
    """Sequences follow t -> (3t + 1) mod (VOCAB-1) + 1 with 10% noise, right-padded."""
    mx.random.seed(seed)
    lengths = mx.random.randint(4, max_len + 1, (n,))
    first = mx.random.randint(1, VOCAB, (n,))
    cols = [first]
    for _ in range(max_len - 1):
        nxt = (3 * cols[-1] + 1) % (VOCAB - 1) + 1
        noise = mx.random.randint(1, VOCAB, (n,))
        cols.append(mx.where(mx.random.uniform(shape=(n,)) < 0.1, noise, nxt))
    seq = mx.stack(cols, axis=1)
    valid = mx.arange(max_len)[None, :] < lengths[:, None]
    return mx.where(valid, seq, PAD)


def lm_loss(lm, ids):
    inputs, targets = ids[:, :-1], ids[:, 1:]
    per_token = nn.losses.cross_entropy(lm(inputs), targets, reduction="none")
    mask = (targets != PAD).astype(per_token.dtype)
    total = (per_token * mask).sum()
    n_tokens = mask.sum()
    return total / n_tokens


def main():
    data = corpus()
    lm = Bigram()
    opt = optim.Adam(learning_rate=1e-2)
    step = nn.value_and_grad(lm, lm_loss)
    for epoch in range(6):
        losses = []
        for i in range(0, data.shape[0], 64):
            loss, g = step(lm, data[i:i + 64])
            opt.update(lm, g)
            mx.eval(lm.parameters(), opt.state)
            losses.append(loss.item())
        print(f"epoch {epoch} mean token nll {sum(losses) / len(losses):.4f}")


if __name__ == "__main__":
    main()
