# Fine-tune a tiny next-token model on stride sequences with a small
# HF-style trainer: periodic eval, best-model tracking on token accuracy,
# early stopping and load_best_model_at_end.
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

V = 23
CTX = 2


@dataclass
class TrainConfig:
    max_steps: int = 600
    batch_size: int = 64
    learning_rate: float = 3e-3
    eval_steps: int = 25
    load_best_model_at_end: bool = True
    metric_for_best_model: str = "eval_mean_token_accuracy"
    greater_is_better: bool | None = None  # None: infer direction from the metric name
    early_stopping_patience: int = 3


def make_split(n, seed):
    key = mx.random.key(seed)
    k1, k2 = mx.random.split(key)
    start = mx.random.randint(0, V, (n, 1), key=k1)
    stride = mx.random.randint(1, V, (n, 1), key=k2)
    seq = (start + stride * mx.arange(CTX + 1)[None, :]) % V
    return seq[:, :CTX], seq[:, CTX]


class StrideNet(nn.Module):
    def __init__(self, dim=48, hidden=192):
        super().__init__()
        self.emb = nn.Embedding(V, dim)
        self.mlp = nn.Sequential(nn.Linear(CTX * dim, hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, V))

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        return self.mlp(h)


class TinyTrainer:
    def __init__(self, model, args, train, evalset):
        self.model, self.args = model, args
        self.train_x, self.train_y = train
        self.eval_x, self.eval_y = evalset
        self.opt = optim.AdamW(learning_rate=args.learning_rate, weight_decay=0.01)
        self.best_metric = None
        self.best_step = None
        self.best_params = None
        self.patience = 0

    def _resolved_best_metric_name(self):
        name = self.args.metric_for_best_model
        return name if name.startswith("eval_") else f"eval_{name}"

    def _resolved_greater_is_better(self):
        if self.args.greater_is_better is not None:
            return bool(self.args.greater_is_better)
        name = self._resolved_best_metric_name().lower()
        return not (name.endswith("loss") or name.endswith("perplexity"))

    def evaluate(self):
        logits = self.model(self.eval_x)
        loss = nn.losses.cross_entropy(logits, self.eval_y, reduction="mean")
        acc = mx.mean(mx.argmax(logits, axis=-1) == self.eval_y)
        mx.eval(loss, acc)
        return {"eval_loss": loss.item(), "eval_mean_token_accuracy": acc.item()}

    def _run_best_tracking(self, step, metrics):
        cur = metrics[self._resolved_best_metric_name()]
        greater = self._resolved_greater_is_better()
        improved = cur == cur and (
            self.best_metric is None
            or (cur > self.best_metric if greater else cur < self.best_metric)
        )
        if improved:
            self.best_metric, self.best_step, self.patience = cur, step, 0
            self.best_params = tree_map(lambda p: mx.array(p), self.model.parameters())
            mx.eval(self.best_params)
            return False
        self.patience += 1
        if self.patience >= self.args.early_stopping_patience:
            print(f"early stopping at step {step} (no {self._resolved_best_metric_name()} "
                  f"improvement in {self.patience} evals)")
            return True
        return False

    def train(self):
        args = self.args
        loss_and_grad = nn.value_and_grad(self.model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
        n = self.train_x.shape[0]
        step = 0
        for step in range(1, args.max_steps + 1):
            idx = mx.random.randint(0, n, (args.batch_size,))
            loss, grads = loss_and_grad(self.model, self.train_x[idx], self.train_y[idx])
            self.opt.update(self.model, grads)
            mx.eval(self.model.parameters(), self.opt.state, loss)
            if step % args.eval_steps == 0:
                m = self.evaluate()
                print(f"{{'step': {step}, 'loss': {loss.item():.4f}, 'eval_loss': {m['eval_loss']:.4f}, "
                      f"'eval_mean_token_accuracy': {m['eval_mean_token_accuracy']:.4f}}}")
                if self._run_best_tracking(step, m):
                    break
        if args.load_best_model_at_end and self.best_params is not None:
            self.model.update(self.best_params)
            mx.eval(self.model.parameters())
            print(f"loaded best model from step {self.best_step} "
                  f"({self._resolved_best_metric_name()}={self.best_metric:.4f})")
        return step


def main():
    mx.random.seed(0)
    train = make_split(4000, 1)
    evalset = make_split(512, 2)
    model = StrideNet()
    mx.eval(model.parameters())
    trainer = TinyTrainer(model, TrainConfig(), train, evalset)
    last = trainer.train()
    final = trainer.evaluate()
    print(f"final (after {last} steps): eval_loss={final['eval_loss']:.4f} "
          f"eval_mean_token_accuracy={final['eval_mean_token_accuracy']:.4f}")


if __name__ == "__main__":
    main()
