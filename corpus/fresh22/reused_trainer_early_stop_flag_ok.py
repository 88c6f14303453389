"""Two-stage curriculum with one reusable Trainer object (HF-Trainer-like API):
stage 1 = short warm-up on two easy classes only; stage 2 = all five classes,
full noisy training set. Early stopping on eval loss guards both stages."""
import logging
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("trainer")


class MLP(nn.Module):
    def __init__(self, d_in=20, hidden=64, n_cls=5):
        super().__init__()
        self.layers = [nn.Linear(d_in, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, n_cls)]

    def __call__(self, x):
        for l in self.layers[:-1]:
            x = nn.relu(l(x))
        return self.layers[-1](x)


class Trainer:
    def __init__(self, model, args):
        self.model = model
        self.args = args
        self.optimizer = optim.AdamW(learning_rate=args["lr"], weight_decay=0.01)
        self.train_data = None
        self.eval_data = None
        self.stop_requested = False     # can also be set from outside (UI "stop" button)
        self.early_stopped = False
        self.best_metric = None
        self.patience_counter = 0
        self.global_step = 0
        self._vg = nn.value_and_grad(model, self.loss_fn)

    def loss_fn(self, model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    def evaluate(self):
        x, y = self.eval_data
        logits = self.model(x)
        loss = nn.losses.cross_entropy(logits, y, reduction="mean").item()
        acc = (mx.argmax(logits, axis=1) == y).mean().item()
        return {"eval_loss": loss, "eval_acc": acc}

    def _reset_run_state(self):
        self.early_stopped = False
        self.best_metric = None
        self.patience_counter = 0

    def train(self, max_steps):
        self._reset_run_state()
        x, y = self.train_data
        bs = self.args["batch_size"]
        n = x.shape[0]
        perm = mx.random.permutation(n)
        pos = 0
        running = []
        for step in range(1, max_steps + 1):
            if self.stop_requested or self.early_stopped:
                if self.stop_requested:
                    log.info("stop requested - ending training early (step %d)", step)
                break
            if pos + bs > n:
                perm, pos = mx.random.permutation(n), 0
            idx = perm[pos:pos + bs]
            pos += bs
            loss, grads = self._vg(self.model, x[idx], y[idx])
            self.optimizer.update(self.model, grads)
            mx.eval(self.model.parameters(), self.optimizer.state, loss)
            running.append(loss.item())
            self.global_step += 1
            if step % self.args["eval_every"] == 0:
                m = self.evaluate()
                log.info("step %d/%d train_loss=%.4f eval_loss=%.4f eval_acc=%.3f",
                         step, max_steps, sum(running) / len(running), m["eval_loss"], m["eval_acc"])
                running = []
                if self.best_metric is None or m["eval_loss"] < self.best_metric - 1e-4:
                    self.best_metric = m["eval_loss"]
                    self.patience_counter = 0
                else:
                    self.patience_counter += 1
                    if self.patience_counter >= self.args["early_stopping_patience"]:
                        log.info("early stopping at step %d (no eval_loss improvement in %d evals)",
                                 step, self.patience_counter)
                        self.early_stopped = True
        return self.evaluate()


def make_task(n, n_cls, noise, seed):
    mx.random.seed(seed)
    w = mx.random.normal((20, n_cls))
    x = mx.random.normal((n, 20))
    y = mx.argmax(x @ w + 0.5 * mx.sin(3 * x[:, :n_cls]), axis=1)
    flip = mx.random.uniform(shape=(n,)) < noise
    y = mx.where(flip, mx.random.randint(0, n_cls, (n,)), y)
    return x, y


def main():
    t0 = time.time()
    full_x, full_y = make_task(6000, 5, 0.15, 0)
    # easy subset: the same task, clean labels, only classes 0 and 1
    cx, cy = make_task(3000, 5, 0.0, 0)
    keep = [i for i, c in enumerate(cy.tolist()) if c < 2]
    easy_x, easy_y = cx[mx.array(keep)], cy[mx.array(keep)]

    mx.random.seed(42)
    model = MLP()
    args = {"lr": 2e-3, "batch_size": 64, "eval_every": 25, "early_stopping_patience": 2}
    trainer = Trainer(model, args)

    # held-out eval split of the same task (rows the training sets never see)
    hx, hy = make_task(7000, 5, 0.0, 0)
    hx, hy = hx[6000:], hy[6000:]
    hkeep = mx.array([i for i, c in enumerate(hy.tolist()) if c < 2])

    log.info("stage 1: warm-up on %d clean rows of classes 0-1", easy_x.shape[0])
    trainer.train_data = (easy_x, easy_y)
    trainer.eval_data = (hx[hkeep], hy[hkeep])
    m1 = trainer.train(max_steps=300)
    log.info("stage 1 done: %s", m1)

    log.info("stage 2: full data, %d rows", full_x.shape[0])
    trainer.train_data = (full_x, full_y)
    trainer.eval_data = (hx, hy)
    m2 = trainer.train(max_steps=3000)
    log.info("stage 2 done: %s  (global_step=%d, %.1fs)", m2, trainer.global_step, time.time() - t0)


if __name__ == "__main__":
    main()
