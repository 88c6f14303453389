# Tiny vision-language-action trainer: image patches + instruction tokens -> 3-dof end-effector action.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import mlx.utils


class TrainingArgs:
    learning_rate = 3e-3
    num_epochs = 12
    batch_size = 16
    gradient_accumulation_steps = 2
    max_grad_norm = 1.0
    logging_steps = 10


class TinyVLA(nn.Module):
    def __init__(self, patch_dim=12, vocab=20, hidden=48, action_dim=3):
        super().__init__()
        self.action_type = "continuous"
        self.vision_proj = nn.Linear(patch_dim, hidden)
        self.tok_embed = nn.Embedding(vocab, hidden)
        self.fuse = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.action_head = nn.Linear(hidden, action_dim)

    def __call__(self, pixel_values, input_ids):
        v = self.vision_proj(pixel_values).mean(axis=1)
        t = self.tok_embed(input_ids).mean(axis=1)
        h = self.fuse(mx.concatenate([v, t], axis=-1))
        return {"action": self.action_head(h)}


def make_dataset(n, rng):
    pix = rng.normal(size=(n, 4, 12)).astype(np.float32)
    ids = rng.integers(0, 20, size=(n, 6)).astype(np.int32)
    w_img = rng.normal(size=(12, 3)).astype(np.float32) * 0.5
    w_tok = rng.normal(size=(20, 3)).astype(np.float32) * 0.5
    act = np.tanh(pix.mean(1) @ w_img + w_tok[ids].mean(1))
    return pix, ids, act.astype(np.float32)


class VLATrainer:
    def __init__(self, model, args, data):
        self.model = model
        self.args = args
        self.data = data
        self.optimizer = optim.AdamW(learning_rate=args.learning_rate, weight_decay=0.01)
        self.gradient_accumulation_steps = args.gradient_accumulation_steps
        self.accumulated_grads = None
        self.global_step = 0
        self.metrics = {}

    def _compute_loss(self, model, batch):
        out = model(batch["pixel_values"], batch["input_ids"])
        return mx.mean((out["action"] - batch["actions"]) ** 2)

    def _train_step(self, batch):
        loss_and_grad_fn = nn.value_and_grad(self.model, self._compute_loss)
        loss, grads = loss_and_grad_fn(self.model, batch)

        if self.gradient_accumulation_steps > 1:
            if self.accumulated_grads is None:
                self.accumulated_grads = grads
            else:
                self.accumulated_grads = mlx.utils.tree_map(lambda a, b: a + b, self.accumulated_grads, grads)
            if (self.global_step + 1) % self.gradient_accumulation_steps == 0:
                scale = 1.0 / self.gradient_accumulation_steps
                grads = mlx.utils.tree_map(lambda g: g * scale, self.accumulated_grads)
                self.accumulated_grads = None
            else:
                mx.eval(loss, self.accumulated_grads)
                return loss

        if self.args.max_grad_norm > 0:
            grad_norm = optim.clip_grad_norm(grads, self.args.max_grad_norm)
            self.metrics["grad_norm"] = float(grad_norm)

        self.optimizer.update(self.model, grads)
        mx.eval(self.model.parameters(), self.optimizer.state, loss)
        return loss

    def evaluate(self, pix, ids, act):
        out = self.model(mx.array(pix), mx.array(ids))
        return float(mx.mean((out["action"] - mx.array(act)) ** 2))

    def train(self):
        pix, ids, act = self.data["train"]
        n = len(pix)
        rng = np.random.default_rng(1)
        for epoch in range(self.args.num_epochs):
            perm = rng.permutation(n)
            running = []
            for s in range(0, n, self.args.batch_size):
                idx = perm[s:s + self.args.batch_size]
                batch = {"pixel_values": mx.array(pix[idx]), "input_ids": mx.array(ids[idx]),
                         "actions": mx.array(act[idx])}
                loss = self._train_step(batch)
                running.append(loss.item())
                self.global_step += 1
                if self.global_step % self.args.logging_steps == 0:
                    print(f"step {self.global_step:4d} | loss {np.mean(running[-10:]):.4f} | "
                          f"grad_norm {self.metrics.get('grad_norm', float('nan')):.3f}")
            ev = self.evaluate(*self.data["eval"])
            print(f"epoch {epoch + 1}/{self.args.num_epochs} train_mse={np.mean(running):.4f} eval_mse={ev:.4f}")
        return ev


if __name__ == "__main__":
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    pix, ids, act = make_dataset(640, rng)
    data = {"train": (pix[:512], ids[:512], act[:512]), "eval": (pix[512:], ids[512:], act[512:])}
    t0 = time.time()
    trainer = VLATrainer(TinyVLA(), TrainingArgs(), data)
    print(f"baseline eval_mse (predict 0) = {float(np.mean(act[512:] ** 2)):.4f}")
    final = trainer.train()
    print(f"done: final eval_mse {final:.4f} in {time.time() - t0:.1f}s")
