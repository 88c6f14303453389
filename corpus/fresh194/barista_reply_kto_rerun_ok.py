"""Barista chatbot: pick one of 6 reply templates from 8 order-context features.
Feedback is KTO-style (thumbs up / thumbs down per logged reply), trained on a
LoRA-style adapter over a frozen base head.  The same trainer instance is run
twice: stage A on last week's noisy feedback (35% stray thumbs-up), then stage B on
this week's cleaner feedback."""
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
N_FEAT, N_REPLY = 8, 6
W_TRUE = rng.normal(size=(N_FEAT, N_REPLY)).astype(np.float32) * 1.5


def make_feedback(n, seed, noise):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, N_FEAT)).astype(np.float32)
    best = (x @ W_TRUE).argmax(1)
    shown = r.integers(0, N_REPLY, size=n)          # reply the old bot logged
    liked = (shown == best) | (r.random(n) < noise)  # thumbs up
    return mx.array(x), mx.array(shown), mx.array(liked.astype(np.float32))


class AdapterHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.base = nn.Linear(N_FEAT, N_REPLY)
        self.lora_a = mx.random.normal((N_FEAT, 8)) * 0.1
        self.lora_b = mx.zeros((8, N_REPLY))
        self.drop = nn.Dropout(0.1)
        self.scale = 2.0

    def __call__(self, x):
        return self.base(x) + self.scale * (self.drop(x) @ self.lora_a @ self.lora_b)


def reply_logp(model, x, y):
    lp = model(x) - mx.logsumexp(model(x), axis=-1, keepdims=True)
    return mx.take_along_axis(lp, y[:, None], axis=-1).squeeze(-1)


class KTOTrainer:
    def __init__(self, model, beta=2.0, lr=6e-2, steps=150, batch=64):
        self.model, self.beta, self.lr, self.steps, self.batch = model, beta, lr, steps, batch
        self._train_loss_history = []
        self._kl_history = []
        self._global_step = 0

    def kto_loss(self, model, x, y, liked):
        pol = reply_logp(model, x, y)
        scale = model.scale
        model.scale = 0.0                      # reference = adapters off
        ref = mx.stop_gradient(reply_logp(model, x, y))
        model.scale = scale
        ratio = pol - ref
        kl = mx.stop_gradient(mx.maximum(ratio.mean(), 0.0))
        up = 1 - mx.sigmoid(self.beta * (ratio - kl))
        down = 1 - mx.sigmoid(self.beta * (kl - ratio))
        return mx.where(liked > 0, up, down).mean(), kl

    def evaluate(self, x, best):
        self.model.eval()
        acc = (self.model(x).argmax(-1) == best).astype(mx.float32).mean()
        return acc.item()

    def train(self, data, tag):
        model = self.model
        model.train()
        self._train_loss_history = []
        self._kl_history = []
        self._global_step = 0

        x, y, liked = data
        opt = optim.AdamW(learning_rate=self.lr, weight_decay=0.0)
        loss_and_grad = nn.value_and_grad(model, lambda m, a, b, c: self.kto_loss(m, a, b, c)[0])
        n = x.shape[0]
        for step in range(self.steps):
            lr = self.lr * 0.5 * (1 + math.cos(math.pi * step / self.steps))
            opt.learning_rate = lr
            idx = mx.array(np.random.default_rng(step + len(tag)).integers(0, n, self.batch))
            loss, grads = loss_and_grad(model, x[idx], y[idx], liked[idx])
            opt.update(model, grads)
            _, kl = self.kto_loss(model, x[idx], y[idx], liked[idx])
            mx.eval(model.parameters(), opt.state, loss, kl)
            train_loss = loss.item()
            self._train_loss_history.append(train_loss)
            self._kl_history.append(kl.item())
            self._global_step = step + 1
            if step % 20 == 0 or step == self.steps - 1:
                print(f"[{tag}] step {step:3d}  kto_loss {train_loss:.4f}  kl {kl.item():.4f}  lr {lr:.2e}")
        return {
            "train_loss": round(sum(self._train_loss_history) / len(self._train_loss_history), 4),
            "kl": round(sum(self._kl_history) / len(self._kl_history), 4),
            "train_steps": self._global_step,
        }


mx.random.seed(0)
model = AdapterHead()
model.freeze(keys=["base"])
xe = rng.normal(size=(2000, N_FEAT)).astype(np.float32)
best_e = mx.array((xe @ W_TRUE).argmax(1))
xe = mx.array(xe)

trainer = KTOTrainer(model)
print("before: reply accuracy", round(trainer.evaluate(xe, best_e), 3))
out_a = trainer.train(make_feedback(3000, 1, 0.35), "stageA")
print("stageA result", out_a, "| reply accuracy", round(trainer.evaluate(xe, best_e), 3))
out_b = trainer.train(make_feedback(3000, 2, 0.02), "stageB")
print("stageB result", out_b, "| reply accuracy", round(trainer.evaluate(xe, best_e), 3))
