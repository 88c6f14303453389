"""Fine-tune a classifier on top of a 'pretrained' embedding table with
discriminative learning rates (optim.MultiOptimizer): the embedding gets a
deliberately tiny lr so it barely moves, the new head gets a normal one."""
import logging
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("finetune")

rng = np.random.default_rng(5)
VOCAB, DIM, SEQ, CLASSES = 500, 32, 12, 4
# "pretrained" embeddings: tokens already cluster by topic
topic_of_token = rng.integers(0, CLASSES, size=VOCAB)
topic_dirs = rng.normal(size=(CLASSES, DIM)).astype(np.float32)
pretrained = topic_dirs[topic_of_token] + 1.5 * rng.normal(size=(VOCAB, DIM)).astype(np.float32)


def make_batch(n=64):
    y = rng.integers(0, CLASSES, size=n)
    toks = np.empty((n, SEQ), dtype=np.int32)
    for i, c in enumerate(y):
        pool = np.flatnonzero(topic_of_token == c)
        own = rng.choice(pool, size=SEQ // 4)
        noise = rng.integers(0, VOCAB, size=SEQ - SEQ // 4)
        toks[i] = rng.permutation(np.concatenate([own, noise]))
    return mx.array(toks), mx.array(y)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.head = nn.Sequential(nn.Linear(DIM, 64), nn.GELU(), nn.Linear(64, CLASSES))

    def __call__(self, toks):
        return self.head(self.embed(toks).mean(axis=1))


model = Classifier()
model.embed.weight = mx.array(pretrained)
emb0 = mx.array(model.embed.weight)

opt = optim.MultiOptimizer(
    [optim.Adam(learning_rate=1e-6), optim.Adam(learning_rate=3e-3)],
    [lambda path, w: path.startswith("embed")],
)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step = nn.value_and_grad(model, loss_fn)
xv, yv = make_batch(512)
for it in range(1, 801):
    x, y = make_batch()
    loss, grads = step(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it == 1 or it % 100 == 0:
        acc = mx.mean(mx.argmax(model(xv), axis=-1) == yv).item()
        drift = (mx.abs(model.embed.weight - emb0).max() / mx.abs(emb0).max()).item()
        log.info("step %d loss %.4f val_acc %.3f embed_rel_drift %.2e", it, loss.item(), acc, drift)

n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
log.info("done: %d trainable params, embedding lr 1e-6 / head lr 3e-3", n_params)
