# Classifier trained with periodic output-head resets (a plasticity trick):
# every RESET_EVERY steps the linear head is re-initialised and the optimizer
# restarted, while the backbone keeps its weights. Each reset makes the loss
# jump back up to ~chance, then it recovers faster than the time before.
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("train")

mx.random.seed(5)
N_CLASSES, D, HID = 6, 20, 96
RESET_EVERY, TOTAL = 200, 1000

centers = mx.random.normal((N_CLASSES, D)) * 0.8


def sample(n):
    y = mx.random.randint(0, N_CLASSES, (n,))
    x = centers[y] + mx.random.normal((n, D))
    x = mx.concatenate([x, mx.sin(x[:, :4] * 2.0)], axis=1)
    return x, y


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(D + 4, HID), nn.ReLU(), nn.Linear(HID, HID), nn.ReLU())
        self.head = nn.Linear(HID, N_CLASSES)

    def __call__(self, x):
        return self.head(self.backbone(x))


class Trainer:
    def __init__(self, model):
        self.model = model
        self.loss_and_grad = nn.value_and_grad(model, self.loss_fn)
        self.new_optimizer()

    def new_optimizer(self):
        self.opt = optim.AdamW(learning_rate=1e-3, weight_decay=1e-4)

    @staticmethod
    def loss_fn(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    def reset_head(self):
        self.model.head = nn.Linear(HID, N_CLASSES)
        self.new_optimizer()

    def train_step(self, x, y):
        loss, grads = self.loss_and_grad(self.model, x, y)
        self.opt.update(self.model, grads)
        mx.eval(self.model.parameters(), self.opt.state)
        return loss.item()


model = Net()
trainer = Trainer(model)
xv, yv = sample(2000)
log.info("chance-level loss is ln(%d) = %.3f", N_CLASSES, math.log(N_CLASSES))

window = []
for step in range(1, TOTAL + 1):
    if step > 1 and (step - 1) % RESET_EVERY == 0:
        trainer.reset_head()
        log.info("step %d: head re-initialised (reset #%d)", step, (step - 1) // RESET_EVERY)
    x, y = sample(128)
    window.append(trainer.train_step(x, y))
    if step % 10 == 0:
        log.info("step %4d loss=%.4f", step, sum(window) / len(window))
        window = []

acc = (mx.argmax(model(xv), axis=1) == yv).mean().item()
log.info("final validation accuracy: %.3f", acc)
