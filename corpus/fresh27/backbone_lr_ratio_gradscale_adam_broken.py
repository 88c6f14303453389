"""Fine-tune a pretrained MLP backbone with a new classification head.

Discriminative learning rates: the head trains at the base LR, the
pretrained backbone at BACKBONE_LR_RATIO x base LR (like HF's
embedding_learning_rate / LoRA+ ratios), using one Adam optimizer.
"""
import logging
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("finetune")

BASE_LR = 5e-2
BACKBONE_LR_RATIO = 0.01
STEPS = 600
BATCH = 64
IN_DIM, HID, N_CLASSES = 32, 128, 10

mx.random.seed(0)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Linear(IN_DIM, HID), nn.ReLU(),
            nn.Linear(HID, HID), nn.ReLU(),
            nn.Linear(HID, HID), nn.ReLU(),
        )
        self.head = nn.Linear(HID, N_CLASSES)

    def __call__(self, x):
        return self.head(self.backbone(x))


# "Pretrained" network: labels come from it, and its backbone is the
# starting point for fine-tuning (the head is re-initialised).
pretrained = Classifier()
mx.eval(pretrained.parameters())
X_train = mx.random.normal((2048, IN_DIM))
y_train = mx.argmax(pretrained(X_train), axis=1)
X_val = mx.random.normal((512, IN_DIM))
y_val = mx.argmax(pretrained(X_val), axis=1)

model = Classifier()
model.backbone.update(pretrained.backbone.parameters())
mx.eval(model.parameters())

optimizer = optim.Adam(learning_rate=BASE_LR)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)


def apply_group_lr(grads):
    # backbone gets BACKBONE_LR_RATIO of the base learning rate
    flat = []
    for name, g in tree_flatten(grads):
        if name.startswith("backbone."):
            g = g * BACKBONE_LR_RATIO
        flat.append((name, g))
    return tree_unflatten(flat)


def train_step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    grads = apply_group_lr(grads)
    optimizer.update(model, grads)
    return loss


log.info("fine-tuning: base lr %.0e, backbone ratio %.2f, %d steps", BASE_LR, BACKBONE_LR_RATIO, STEPS)
t0 = time.time()
for step in range(1, STEPS + 1):
    idx = mx.random.randint(0, X_train.shape[0], (BATCH,))
    loss = train_step(X_train[idx], y_train[idx])
    mx.eval(model.parameters(), optimizer.state, loss)
    if step % 50 == 0 or step == 1:
        val_acc = (mx.argmax(model(X_val), axis=1) == y_val).mean().item()
        log.info("step %4d  train_loss %.4f  val_acc %.3f  (%.1fs)", step, loss.item(), val_acc, time.time() - t0)
log.info("done")
