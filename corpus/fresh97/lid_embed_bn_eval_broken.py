"""Tiny language-ID model (x-vector style): frame layers -> stats pooling ->
embedding with BatchNorm -> classifier.  Utterances are scored one at a time
after each epoch, the way predict(audio) is used at inference."""
import logging
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("lid")

N_LANG, N_MEL, T = 6, 24, 40
rng = np.random.default_rng(11)
centroids = rng.normal(0, 0.12, (N_LANG, N_MEL)).astype(np.float32)


def make_split(n):
    y = rng.integers(0, N_LANG, n)
    x = centroids[y][:, None, :] + rng.normal(0, 1.5, (n, T, N_MEL)).astype(np.float32)
    return x.astype(np.float32), y.astype(np.int32)


x_train, y_train = make_split(4096)
x_val, y_val = make_split(120)


class TinyXVector(nn.Module):
    def __init__(self, n_mel, hidden, emb, n_out):
        super().__init__()
        self.frame1 = nn.Linear(n_mel, hidden)
        self.frame_bn = nn.BatchNorm(hidden)
        self.frame2 = nn.Linear(hidden, hidden)
        self.embed = nn.Linear(2 * hidden, emb)
        self.embed_bn = nn.BatchNorm(emb)
        self.head = nn.Linear(emb, n_out)

    def __call__(self, mel):
        h = nn.relu(self.frame_bn(self.frame1(mel)))
        h = nn.relu(self.frame2(h))
        stats = mx.concatenate([h.mean(axis=1), mx.sqrt(h.var(axis=1) + 1e-5)], axis=-1)
        e = nn.relu(self.embed_bn(self.embed(stats)))
        return self.head(e)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def predict_one(model, mel):
    logits = model(mel[None])
    return int(mx.argmax(logits, axis=-1).item())


def main():
    mx.random.seed(0)
    model = TinyXVector(N_MEL, 48, 32, N_LANG)
    opt = optim.Adam(learning_rate=3e-3)
    step = nn.value_and_grad(model, loss_fn)
    bs = 32
    for epoch in range(1, 7):
        perm = rng.permutation(len(x_train))
        tot, nb = 0.0, 0
        for i in range(0, len(perm), bs):
            idx = perm[i:i + bs]
            loss, grads = step(model, mx.array(x_train[idx]), mx.array(y_train[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        correct = 0
        for j in range(len(x_val)):
            correct += predict_one(model, mx.array(x_val[j])) == int(y_val[j])
        log.info("epoch %d train_loss=%.4f val_acc=%.3f", epoch, tot / nb, correct / len(x_val))


if __name__ == "__main__":
    main()
