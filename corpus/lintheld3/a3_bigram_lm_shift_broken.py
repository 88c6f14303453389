"""Tiny next-token model on a synthetic 'counting' corpus: each row is a run of
consecutive token ids (mod vocab) starting at a random id."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB = 48
SEQ_LEN = 32
BATCH = 32


class CountingCorpus:
    def __init__(self, n_rows, seed=0):
        starts = mx.random.randint(0, VOCAB, (n_rows, 1), key=mx.random.key(seed))
        self.rows = (starts + mx.arange(SEQ_LEN)[None, :]) % VOCAB

    def __iter__(self):
        n = self.rows.shape[0]
        perm = mx.random.permutation(n)
        for i in range(0, n - BATCH + 1, BATCH):
            yield self.rows[perm[i:i + BATCH]]


class TinyLM(nn.Module):
    def __init__(self, vocab, dim=32):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.mix = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, vocab)

    def __call__(self, tokens):
        return self.head(nn.silu(self.mix(self.embed(tokens))))

    def loss(self, batch):
        inputs = batch[:, :-1]
        targets = batch[1:]
        logits = self(inputs)
        return nn.losses.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="mean")


def train():
    mx.random.seed(0)
    lm = TinyLM(VOCAB)
    opt = optim.Adam(learning_rate=1e-2)
    step_fn = nn.value_and_grad(lm, lambda batch: lm.loss(batch))
    corpus = CountingCorpus(1024)
    for epoch in range(8):
        losses = []
        for batch in corpus:
            l, g = step_fn(batch)
            opt.update(lm, g)
            mx.eval(lm.parameters(), opt.state, l)
            losses.append(l.item())
        print(f"epoch {epoch} loss {sum(losses) / len(losses):.4f}")
    probe = mx.array([[5, 6, 7, 8]])
    print("next-token prediction for 5 6 7 8:", mx.argmax(lm(probe), axis=-1).tolist())


if __name__ == "__main__":
    train()
