"""Character LM on synthetic ballad verses with a small HF-style trainer:
gradient accumulation, periodic logging, periodic eval, early stopping and
load_best_model_at_end."""
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

random.seed(11)
mx.random.seed(11)

SUBJ = ["the miller", "a widow", "the drover", "my true love", "the piper", "a sailor",
        "the ferryman", "old Meg", "the shepherd", "a stranger"]
VERB = ["rode down to", "wept beside", "sang across", "walked from", "dreamed of",
        "lay down by", "came home to", "burned the boats at"]
PLACE = ["the green water", "Carrick shore", "the high moor", "the salt meadow",
         "Lammas fair", "the black mill", "the rowan hill", "Quillmere town"]
TAIL = ["in the morning", "when the frost came", "with a heavy heart", "and never returned",
        "by candlelight", "all the long night"]


def verse():
    return f"{random.choice(SUBJ)} {random.choice(VERB)} {random.choice(PLACE)} {random.choice(TAIL)}.\n"


train_text = "".join(verse() for _ in range(14))
val_text = "".join(verse() for _ in range(60))
chars = sorted(set(train_text + val_text))
PAD = 0
stoi = {c: i + 1 for i, c in enumerate(chars)}
V = len(chars) + 1
CTX = 8


def windows(text):
    ids = [stoi[c] for c in text]
    xs, ys = [], []
    for i in range(len(ids) - 1):
        ctx = ids[max(0, i + 1 - CTX):i + 1]
        xs.append([PAD] * (CTX - len(ctx)) + ctx)
        ys.append(ids[i + 1])
    return mx.array(xs), mx.array(ys)


Xtr, Ytr = windows(train_text)
Xva, Yva = windows(val_text)
print(f"vocab {V} | train windows {Xtr.shape[0]} | val windows {Xva.shape[0]}")


class CharMLP(nn.Module):
    def __init__(self, vocab, dim=48, hidden=384):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.fc1 = nn.Linear(CTX * dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, vocab)

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        h = nn.gelu(self.fc1(h))
        h = nn.gelu(self.fc2(h))
        return self.out(h)


def loss_fn(model, x, y):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="none")
    mask = (y != PAD).astype(mx.float32)
    ntoks = mask.sum()
    return (ce * mask).sum() / ntoks, ntoks


class Control:
    def __init__(self):
        self.should_training_stop = False


class State:
    def __init__(self):
        self.global_step = 0
        self.best_metric = None
        self.best_global_step = None


class EarlyStoppingCallback:
    def __init__(self, patience, threshold=0.0):
        self.patience = patience
        self.threshold = threshold
        self.wait = 0

    def on_evaluate(self, state, control, metrics):
        value = metrics["eval_loss"]
        if state.best_metric is None or value < state.best_metric - self.threshold:
            self.wait = 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                control.should_training_stop = True


class MiniTrainer:
    def __init__(self, model, args, callbacks):
        self.model = model
        self.args = args
        self.callbacks = callbacks
        self.state = State()
        self.control = Control()
        self._train_loss_history = []
        self._best_weights = None

    def evaluate(self):
        tot, n = 0.0, 0.0
        for i in range(0, Xva.shape[0], 512):
            l, k = loss_fn(self.model, Xva[i:i + 512], Yva[i:i + 512])
            tot += l.item() * k.item()
            n += k.item()
        return {"eval_loss": tot / n}

    def train(self):
        args = self.args
        model = self.model
        optimizer = optim.AdamW(learning_rate=args["lr"], weight_decay=0.0)
        grad_accum = args["grad_accum"]
        total_steps = args["max_steps"]
        loss_and_grad = nn.value_and_grad(model, loss_fn)
        start_time = time.perf_counter()

        losses = mx.array(0.0)
        n_tokens = mx.array(0.0)
        steps = 0
        trained_tokens = 0

        def _run_training_log(current_step):
            nonlocal losses, n_tokens, steps, trained_tokens
            mx.eval(losses, n_tokens)
            train_loss = (losses / n_tokens).item() if n_tokens.item() > 0 else 0.0
            tok_count = int(n_tokens.item())
            trained_tokens += tok_count
            self._train_loss_history.append(train_loss)
            print(f"step {current_step:4d} | train_loss {train_loss:.4f} | "
                  f"lr {optimizer.learning_rate.item():.1e} | tokens {tok_count}")
            losses = mx.array(0.0)
            n_tokens = mx.array(0.0)
            steps = 0

        def _run_eval(current_step):
            metrics = self.evaluate()
            print(f"step {current_step:4d} | eval_loss {metrics['eval_loss']:.4f}")
            for cb in self.callbacks:
                cb.on_evaluate(self.state, self.control, metrics)
            if self.state.best_metric is None or metrics["eval_loss"] < self.state.best_metric:
                self.state.best_metric = metrics["eval_loss"]
                self.state.best_global_step = current_step
                self._best_weights = dict(tree_flatten(model.parameters()))

        n = Xtr.shape[0]
        bs = args["batch_size"]
        order = mx.random.permutation(n)
        cursor = 0
        while self.state.global_step < total_steps:
            acc = None
            for _ in range(grad_accum):
                if cursor + bs > n:
                    order = mx.random.permutation(n)
                    cursor = 0
                idx = order[cursor:cursor + bs]
                cursor += bs
                (loss, ntoks), grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
                acc = grads if acc is None else tree_map(lambda a, b: a + b, acc, grads)
                losses = losses + loss * ntoks
                n_tokens = n_tokens + ntoks
            acc = tree_map(lambda g: g / grad_accum, acc)
            optimizer.update(model, acc)
            mx.eval(model.parameters(), optimizer.state, losses, n_tokens)
            self.state.global_step += 1
            steps += 1
            current_step = self.state.global_step

            if current_step % args["logging_steps"] == 0 or current_step == total_steps:
                _run_training_log(current_step)
            if current_step % args["eval_steps"] == 0:
                _run_eval(current_step)
            if self.control.should_training_stop:
                print(f"early stopping at step {current_step} "
                      f"(best eval_loss {self.state.best_metric:.4f} at step {self.state.best_global_step})")
                break

        if steps > 0:
            _run_training_log(self.state.global_step)

        avg_loss = (
            sum(self._train_loss_history) / len(self._train_loss_history)
            if self._train_loss_history else 0.0
        )
        total_time = time.perf_counter() - start_time
        print(f"\nTraining complete! Avg loss: {avg_loss:.4f} | Total time: {total_time:.1f}s | "
              f"Steps: {self.state.global_step} | Tokens: {trained_tokens}")

        if args["load_best_model_at_end"] and self._best_weights is not None:
            model.load_weights(list(self._best_weights.items()))
            mx.eval(model.parameters())
            print(f"restored best weights from step {self.state.best_global_step}")
        return {"train_loss": avg_loss, "trained_tokens": trained_tokens,
                "global_step": self.state.global_step}


model = CharMLP(V)
mx.eval(model.parameters())
args = dict(lr=2e-3, batch_size=64, grad_accum=2, max_steps=400, logging_steps=50,
            eval_steps=5, load_best_model_at_end=True)
trainer = MiniTrainer(model, args, [EarlyStoppingCallback(patience=3, threshold=1e-3)])
result = trainer.train()
final = trainer.evaluate()
print(f"train_loss {result['train_loss']:.4f} | trained_tokens {result['trained_tokens']} | "
      f"steps {result['global_step']} | eval_loss after restore {final['eval_loss']:.4f}")
