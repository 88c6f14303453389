# Quilt block pattern classifier: each row of a quilt block is scanned into a
# sequence of patch tokens (colour x shape), and we predict which of 4 block
# patterns (nine-patch, log cabin, flying geese, pinwheel) the row came from.
# Model: Embedding -> Conv1d (local motifs) -> GRU -> Linear.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB = 40
EMBED_DIM = 32
SEQ_LEN = 24
N_CLASSES = 4
rng = np.random.default_rng(7)

# each pattern has a characteristic 3-token motif repeated at random places
MOTIFS = rng.integers(0, VOCAB, size=(N_CLASSES, 3))


def make_rows(n):
    X = rng.integers(0, VOCAB, size=(n, SEQ_LEN))
    y = rng.integers(0, N_CLASSES, size=n)
    for i in range(n):
        for _ in range(2):
            p = rng.integers(0, SEQ_LEN - 3)
            X[i, p:p + 3] = MOTIFS[y[i]]
    return mx.array(X, dtype=mx.int32), mx.array(y, dtype=mx.int32)


class QuiltNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, EMBED_DIM)
        self.conv = nn.Conv1d(EMBED_DIM, 48, kernel_size=3, padding=1)
        self.gru = nn.GRU(48, 48)
        self.head = nn.Linear(48, N_CLASSES)

    def __call__(self, tokens):
        embedded = self.embedding(tokens)
        # Transpose for conv1d (expects channels first: [N, C, L])
        conv_input = mx.transpose(embedded, (0, 2, 1))
        conv_out = self.conv(conv_input)
        h = self.gru(nn.relu(conv_out))
        return self.head(h[:, -1, :])


def loss_fn(model, x, y):
    return mx.mean(nn.losses.cross_entropy(model(x), y))


Xtr, ytr = make_rows(2048)
Xva, yva = make_rows(512)

model = QuiltNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, loss_fn)

print(f"quilt rows: train={Xtr.shape[0]} val={Xva.shape[0]} seq_len={SEQ_LEN}")
t0 = time.time()
BS = 64
for epoch in range(1, 7):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    tot, nb = 0.0, 0
    for s in range(0, Xtr.shape[0], BS):
        idx = perm[s:s + BS]
        loss, grads = step_fn(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    acc = mx.mean(mx.argmax(model(Xva), axis=1) == yva).item()
    print(f"epoch {epoch:2d} | train xent {tot / nb:.4f} | val acc {100 * acc:5.1f}% | {time.time() - t0:.1f}s")

print("done.")
