import json
import time
from functools import partial
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers
from mlx.utils import tree_flatten, tree_map

mx.random.seed(0)

VOCAB = 64
SEQ = 24
N_CLASSES = 4


def make_split(n, seed):
    key = mx.random.key(seed)
    k1, k2 = mx.random.split(key)
    labels = mx.random.randint(0, N_CLASSES, (n,), key=k1)
    noise = mx.random.randint(N_CLASSES * 4, VOCAB, (n, SEQ), key=k2)
    marker = labels[:, None] * 4 + mx.random.randint(0, 4, (n, SEQ // 3), key=k1)
    tokens = mx.concatenate([marker, noise[:, SEQ // 3:]], axis=1)
    return [{"input_ids": tokens[i], "labels": labels[i]} for i in range(n)]


class TrainingArgs:
    def __init__(
        self,
        batch_size: int = 16,
        num_train_epochs: int = 3,
        learning_rate: float = 2e-3,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.05,
        gradient_accumulation_steps: int = 2,
        logging_steps: int = 10,
        output_dir: str = "outputs",
    ):
        self.batch_size = batch_size
        self.num_train_epochs = num_train_epochs
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.logging_steps = logging_steps
        self.output_dir = output_dir


class TinyEncoderForSequenceClassification(nn.Module):
    def __init__(self, dims=64, heads=4, layers=2):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(SEQ, dims)
        self.layers = [nn.TransformerEncoderLayer(dims, heads, mlp_dims=dims * 2) for _ in range(layers)]
        self.norm = nn.LayerNorm(dims)
        self.classifier = nn.Linear(dims, N_CLASSES)
        self.config = {"dims": dims, "heads": heads, "layers": layers, "num_labels": N_CLASSES}

    def __call__(self, input_ids, labels=None):
        x = self.embed(input_ids) + self.pos(mx.arange(input_ids.shape[1]))
        for layer in self.layers:
            x = layer(x, None)
        logits = self.classifier(self.norm(x).mean(axis=1))
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = nn.losses.cross_entropy(logits, labels, reduction="none")
        return out


class Trainer:
    def __init__(self, model, args, train_dataset, eval_dataset):
        self.model = model
        self.args = args
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset

        steps_per_epoch = -(-len(train_dataset) // args.batch_size)
        num_update_steps_per_epoch = max(steps_per_epoch // args.gradient_accumulation_steps, 1)
        max_steps = num_update_steps_per_epoch * args.num_train_epochs
        warmup_steps = int(max_steps * args.warmup_ratio)
        print(f"Scheduler: cosine_decay | Warmup: {warmup_steps} | Total: {max_steps}")
        lr_schedule = mlx.optimizers.join_schedules(
            [
                mlx.optimizers.linear_schedule(0.0, args.learning_rate, warmup_steps),
                mlx.optimizers.cosine_decay(args.learning_rate, max_steps - warmup_steps),
            ],
            [warmup_steps],
        )
        self.optimizer = mlx.optimizers.AdamW(learning_rate=lr_schedule, weight_decay=args.weight_decay)

        # Setup output directory
        self.output_dir = Path("trained_models") / args.output_dir
        self.output_dir.mkdir(parents=True, exist_ok=True)

        self.global_step = 0
        self.state = [self.model.state, self.optimizer.state, mx.random.state]

        def loss_fn(model, batch):
            outputs = model(**batch)
            return mx.mean(outputs["loss"])

        grad_fn = nn.value_and_grad(self.model, loss_fn)

        @partial(mx.compile, inputs=self.state, outputs=self.state)
        def step_calc(batch):
            return grad_fn(self.model, batch)

        @partial(mx.compile, inputs=self.state, outputs=self.state)
        def update_fn(accumulated_grads):
            self.optimizer.update(self.model, accumulated_grads)

        self.step_calc = step_calc
        self.step_update = update_fn
        print(f"Training {model.__class__.__name__}")
        self._save_config()

    def _save_config(self):
        with open(self.output_dir / "config.json", "w") as f:
            json.dump(self.model.config, f)

    def _batches(self, data, bs):
        for i in range(0, len(data), bs):
            chunk = data[i:i + bs]
            yield {
                "input_ids": mx.stack([c["input_ids"] for c in chunk]),
                "labels": mx.stack([c["labels"] for c in chunk]),
            }

    def evaluate(self):
        self.model.eval()
        correct, total, losses = 0, 0, []
        for batch in self._batches(self.eval_dataset, 64):
            out = self.model(**batch)
            losses.append(mx.mean(out["loss"]).item())
            correct += (mx.argmax(out["logits"], axis=1) == batch["labels"]).sum().item()
            total += batch["labels"].shape[0]
        self.model.train()
        return sum(losses) / len(losses), correct / total

    def train(self):
        self.model.train()
        accum = self.args.gradient_accumulation_steps
        for epoch in range(self.args.num_train_epochs):
            acc_grads, running, n_micro = None, 0.0, 0
            t0 = time.perf_counter()
            for batch in self._batches(self.train_dataset, self.args.batch_size):
                loss, grads = self.step_calc(batch)
                acc_grads = grads if acc_grads is None else tree_map(lambda a, b: a + b, acc_grads, grads)
                running += loss.item()
                n_micro += 1
                if n_micro % accum == 0:
                    acc_grads = tree_map(lambda g: g / accum, acc_grads)
                    self.step_update(acc_grads)
                    mx.eval(self.state)
                    acc_grads = None
                    self.global_step += 1
                    if self.global_step % self.args.logging_steps == 0:
                        lr = self.optimizer.learning_rate.item()
                        print(f"step {self.global_step:4d} | loss {running / n_micro:.4f} | lr {lr:.2e}")
            eval_loss, eval_acc = self.evaluate()
            print(f"epoch {epoch + 1} | train_loss {running / n_micro:.4f} | eval_loss {eval_loss:.4f} "
                  f"| eval_acc {eval_acc:.3f} | {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    train_ds = make_split(1280, 1)
    eval_ds = make_split(256, 2)
    model = TinyEncoderForSequenceClassification()
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"params: {n_params}")
    args = TrainingArgs(output_dir="tasting_notes_run")
    trainer = Trainer(model, args, train_ds, eval_ds)
    trainer.train()
