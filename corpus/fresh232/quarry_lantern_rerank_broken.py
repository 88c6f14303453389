"""Pairwise reranker for a quarry-survey document search: scores (query, passage)
feature vectors and trains with margin ranking loss. Small trainer class in the
style of a BERT fine-tuning repo (config dict, optimizer, lr scheduler, train loop)."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CONFIG = {
    "optimizer": {"learning_rate": 3e-3, "weight_decay": 0.01},
    "scheduler": {"type": "cosine", "warmup_steps": 40},
    "training": {"num_epochs": 6, "batch_size": 64},
}

rng = np.random.default_rng(7)
DIM = 24
w_true = rng.normal(size=(DIM,)).astype(np.float32)


def make_pairs(n):
    a = rng.normal(size=(n, DIM)).astype(np.float32)
    b = rng.normal(size=(n, DIM)).astype(np.float32)
    sa = a @ w_true + 0.3 * np.sin(a[:, 0] * a[:, 1])
    sb = b @ w_true + 0.3 * np.sin(b[:, 0] * b[:, 1])
    y = np.where(sa > sb, 1.0, -1.0).astype(np.float32)
    return a, b, y


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(DIM, 64), nn.GELU(), nn.Linear(64, 32), nn.GELU(), nn.Linear(32, 1))

    def __call__(self, x):
        return self.net(x).squeeze(-1)


def create_mlx_lr_schedule(config, base_lr, num_training_steps):
    if config["type"] == "none":
        return mx.array(base_lr)
    warm = optim.linear_schedule(base_lr * 0.1, base_lr, config["warmup_steps"])
    decay = optim.cosine_decay(base_lr, num_training_steps - config["warmup_steps"], base_lr * 0.01)
    return optim.join_schedules([warm, decay], [config["warmup_steps"]])


def create_optimizer(model, config):
    return optim.AdamW(learning_rate=config["learning_rate"], weight_decay=config["weight_decay"])


class Trainer:
    def __init__(self, model, config):
        self.model = model
        self.config = config
        self.optimizer = create_optimizer(self.model, self.config["optimizer"])
        self.lr_scheduler = None
        self._lr_schedule_fn = None

    def loss_fn(self, model, a, b, y):
        return nn.losses.margin_ranking_loss(model(a), model(b), y, margin=0.5, reduction="mean")

    def evaluate(self, a, b, y):
        sa, sb = self.model(mx.array(a)), self.model(mx.array(b))
        acc = mx.mean((mx.sign(sa - sb) == mx.array(y)).astype(mx.float32)).item()
        loss = self.loss_fn(self.model, mx.array(a), mx.array(b), mx.array(y)).item()
        return loss, acc

    def train(self, a, b, y, va, vb, vy):
        bs = self.config["training"]["batch_size"]
        steps_per_epoch = len(a) // bs
        total_steps = steps_per_epoch * self.config["training"]["num_epochs"]

        # Initialize MLX native learning rate scheduler now that we know total steps
        if self.config["scheduler"]["type"] != "none":
            schedule_result = create_mlx_lr_schedule(
                self.config["scheduler"], self.config["optimizer"]["learning_rate"], total_steps
            )

            # Check if it's a constant (MLX array) or a schedule function
            if isinstance(schedule_result, mx.array):
                # For constant LR, just set the value
                self.optimizer.learning_rate = schedule_result
                self._lr_schedule_fn = None
            else:
                # For scheduled LR, set the schedule function
                self.optimizer.learning_rate = schedule_result
                self._lr_schedule_fn = schedule_result

            print(f"Initialized MLX learning rate scheduler with {total_steps} total steps")

        vg = nn.value_and_grad(self.model, self.loss_fn)
        step = 0
        for epoch in range(self.config["training"]["num_epochs"]):
            perm = rng.permutation(len(a))
            t0, running = time.time(), 0.0
            for i in range(steps_per_epoch):
                idx = mx.array(perm[i * bs:(i + 1) * bs])
                loss, grads = vg(self.model, mx.array(a)[idx], mx.array(b)[idx], mx.array(y)[idx])
                self.optimizer.update(self.model, grads)
                mx.eval(self.model.parameters(), self.optimizer.state, loss)
                running += loss.item()
                step += 1
            vl, vacc = self.evaluate(va, vb, vy)
            lr = self.optimizer.learning_rate.item()
            print(f"epoch {epoch + 1}/{self.config['training']['num_epochs']} step {step} lr {lr:.2e} "
                  f"train_loss {running / steps_per_epoch:.4f} val_loss {vl:.4f} val_pair_acc {vacc:.3f} "
                  f"({time.time() - t0:.1f}s)")
        return vacc


if __name__ == "__main__":
    mx.random.seed(0)
    a, b, y = make_pairs(8000)
    va, vb, vy = make_pairs(2000)
    model = Scorer()
    trainer = Trainer(model, CONFIG)
    l0, acc0 = trainer.evaluate(va, vb, vy)
    print(f"untrained val_loss {l0:.4f} val_pair_acc {acc0:.3f}")
    acc = trainer.train(a, b, y, va, vb, vy)
    print(f"final val_pair_acc {acc:.3f}")
