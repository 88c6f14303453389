"""Time-series classifier: small Conv1d encoder + projector trained on top of a
frozen (pretend pretrained) MLP backbone."""
import logging

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("ts-train")


class TSEncoder(nn.Module):
    def __init__(self, c_in=3, d=16):
        super().__init__()
        self.conv1 = nn.Conv1d(c_in, d, kernel_size=5, padding=2)
        self.conv2 = nn.Conv1d(d, d, kernel_size=5, padding=2)
        self.norm = nn.LayerNorm(d)

    def __call__(self, x):  # x: (B, C, L) like the PyTorch loader gives us
        x = mx.transpose(x, (0, 2, 1))  # MLX conv wants (B, L, C)
        x = nn.relu(self.conv1(x))
        x = nn.relu(self.conv2(x))
        return self.norm(x.mean(axis=1))


class Model(nn.Module):
    def __init__(self, n_classes=4):
        super().__init__()
        self.encoder = TSEncoder()
        self.proj = nn.Linear(16, 32)
        self.backbone = nn.Sequential(nn.Linear(32, 32), nn.GELU(), nn.Linear(32, 32))
        self.head = nn.Linear(32, n_classes)

    def __call__(self, x):
        h = self.backbone(nn.gelu(self.proj(self.encoder(x))))
        return self.head(h)


def make_batch(bs, L=32):
    labels = mx.random.randint(0, 4, (bs,))
    t = mx.arange(L)[None, None, :].astype(mx.float32)
    freq = (labels.astype(mx.float32) + 1.0)[:, None, None] * 0.15
    x = mx.sin(freq * t + mx.random.uniform(0, 6.28, (bs, 3, 1)))
    x = x + 0.3 * mx.random.normal((bs, 3, L))
    return x, labels


class Trainer:
    def __init__(self, model, lr=2e-3):
        self.model = model
        self.model.backbone.freeze()
        self.opt = optim.Adam(learning_rate=lr)
        n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
        n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
        log.info("trainable params %d / %d", n_train, n_all)

    def loss_fn(self, model, x, y):
        logits = model(x)
        return nn.losses.cross_entropy(logits, y, reduction="mean")

    def train_step(self, x, y):
        loss, grads = nn.value_and_grad(self.model, self.loss_fn)(self.model, x, y)
        gnorm = mx.sqrt(sum((g * g).sum() for _, g in tree_flatten(grads)))
        self.opt.update(self.model, grads)
        mx.eval(self.model.parameters(), self.opt.state, loss, gnorm)
        return loss.item(), gnorm.item()

    def evaluate(self, n=512):
        x, y = make_batch(n)
        acc = (mx.argmax(self.model(x), axis=-1) == y).mean()
        return acc.item()


def main():
    mx.random.seed(7)
    trainer = Trainer(Model())
    for it in range(1, 401):
        x, y = make_batch(32)
        loss, gnorm = trainer.train_step(x, y)
        if it % 40 == 0:
            log.info("iter %d loss=%.4f grad_norm=%.2f val_acc=%.3f", it, loss, gnorm, trainer.evaluate())


if __name__ == "__main__":
    main()
