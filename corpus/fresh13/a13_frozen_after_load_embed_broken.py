"""Domain-adapt a small pretrained next-token model to a new corpus.

Following the LoRA example: load the pretrained weights, freeze the model, then
train only the parts we care about (token embeddings, final norm, output head)
while the transformer-ish body stays fixed.
"""
import logging
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("adapt")

VOCAB, DIM, CTX = 48, 32, 8


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.body = [nn.Linear(DIM * CTX, 64), nn.Linear(64, DIM)]
        self.norm = nn.RMSNorm(DIM)
        self.output = nn.Linear(DIM, VOCAB)

    def __call__(self, tokens):
        h = self.embed(tokens).reshape(tokens.shape[0], -1)
        h = nn.gelu(self.body[0](h))
        h = self.body[1](h)
        return self.output(self.norm(h))


def make_corpus(n, seed):
    # new-domain "text": next token = (3 * previous + 5) mod VOCAB with some noise
    key = mx.random.key(seed)
    k1, k2 = mx.random.split(key)
    start = mx.random.randint(0, VOCAB, (n, 1), key=k1)
    seq = [start]
    for _ in range(CTX):
        seq.append((3 * seq[-1] + 5) % VOCAB)
    seq = mx.concatenate(seq, axis=1)
    return seq[:, :CTX], seq[:, CTX]


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    mx.random.seed(11)
    # "pretrained" checkpoint
    ckpt = os.path.join(tempfile.mkdtemp(), "pretrained.safetensors")
    TinyLM().save_weights(ckpt)

    model = TinyLM()
    model.load_weights(ckpt)
    model.freeze()

    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    log.info("trainable params %d / %d", n_train, n_all)

    x_tr, y_tr = make_corpus(2048, 1)
    x_va, y_va = make_corpus(256, 2)
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)

    bs, it = 64, 0
    t0 = time.time()
    for epoch in range(12):
        perm = mx.random.permutation(x_tr.shape[0])
        for i in range(0, x_tr.shape[0], bs):
            idx = perm[i : i + bs]
            loss, grads = step_fn(model, x_tr[idx], y_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            it += 1
            if it % 50 == 0:
                log.info("iter %d nll=%.4f", it, loss.item())
        val = loss_fn(model, x_va, y_va).item()
        log.info("epoch %d val_nll=%.4f ppl=%.2f (%.1fs)", epoch, val, float(mx.exp(mx.array(val))), time.time() - t0)


if __name__ == "__main__":
    main()
