"""Tiny GRPO trainer: a policy learns to answer (a + b) mod 7 from sampled groups."""
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class Policy(nn.Module):
    def __init__(self, widths=(14, 48, 7)):
        super().__init__()
        self.widths = list(widths)
        self.layers = [nn.Linear(i, o) for i, o in zip(widths[:-1], widths[1:])]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.gelu(layer(x))
        return self.layers[-1](x)


class GRPOArgs:
    group_size = 16
    batch_prompts = 16
    max_grad_norm = 1.0
    lr = 4e-3
    total_steps = 600
    log_every = 60


class GRPOTrainer:
    def __init__(self, model, args):
        self.model = model
        self.args = args
        self.optimizer = optim.Adam(learning_rate=args.lr)
        self.step = 0

    def sample_batch(self):
        a = mx.random.randint(0, 7, (self.args.batch_prompts,))
        b = mx.random.randint(0, 7, (self.args.batch_prompts,))
        return a, b

    def train_step(self, batch):
        a, b = batch
        x = mx.concatenate([mx.eye(7)[a], mx.eye(7)[b]], axis=-1)
        x = mx.repeat(x, self.args.group_size, axis=0)
        target = mx.repeat((a + b) % 7, self.args.group_size, axis=0)
        logits = self.model(x)
        actions = mx.random.categorical(logits)
        rewards = (actions == target).astype(mx.float32)
        grouped = rewards.reshape(-1, self.args.group_size)
        adv = (grouped - grouped.mean(axis=1, keepdims=True)) / (grouped.std(axis=1, keepdims=True) + 1e-4)
        adv = mx.stop_gradient(adv.reshape(-1))

        def loss_fn(model):
            logp = nn.log_softmax(model(x), axis=-1)
            chosen = mx.take_along_axis(logp, actions[:, None], axis=-1).squeeze(-1)
            return -mx.mean(adv * chosen)

        loss, grads = mx.value_and_grad(loss_fn)(self.model)

        grads, _ = optim.clip_grad_norm(grads, self.args.max_grad_norm)
        self.optimizer.update(self.model, grads)
        mx.eval(self.model.parameters(), self.optimizer.state, loss)
        self.step += 1
        return loss.item(), rewards.mean().item()

    def train(self):
        print(f"Starting training with {self.args.total_steps} total steps")
        window = []
        t0 = time.time()
        for _ in range(self.args.total_steps):
            loss, reward = self.train_step(self.sample_batch())
            window.append(reward)
            if self.step % self.args.log_every == 0:
                print(f"Step {self.step}: loss={loss:+.4f} reward={sum(window) / len(window):.3f}")
                window = []
        print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    mx.random.seed(0)
    trainer = GRPOTrainer(Policy(), GRPOArgs())
    trainer.train()
