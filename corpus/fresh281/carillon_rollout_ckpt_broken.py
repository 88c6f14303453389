"""Carillon practice: a tiny policy learns to ring 6-bell rows by group-relative policy optimisation.

The policy sees the starting bell and the previous bell and picks the next of 8 bells.
A row scores one point for each move to a neighbouring bell (a "step") plus a small bonus
for using many different bells. Training follows the GRPO recipe: 8 rollouts per prompt,
advantages normalised inside each group, a k3 KL penalty to a frozen reference policy.
A checkpoint folder is written every 50 updates.
"""
import copy
import json
import os
import shutil
import time
from dataclasses import dataclass

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_BELLS, ROW_LEN = 8, 6


@dataclass
class Args:
    steps: int = 300
    prompts_per_step: int = 8
    group_size: int = 8
    learning_rate: float = 3e-3
    beta: float = 0.04
    save_every: int = 50
    log_every: int = 25
    output_dir: str = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_carillon_checkpoints")
    seed: int = 3


class RowPolicy(nn.Module):
    def __init__(self, dim=48):
        super().__init__()
        self.start = nn.Embedding(N_BELLS, dim)
        self.prev = nn.Embedding(N_BELLS, dim)
        self.pos = nn.Embedding(ROW_LEN, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 96), nn.GELU(), nn.Linear(96, N_BELLS))

    def __call__(self, start, prev, pos):
        return self.mlp(self.start(start) + self.prev(prev) + self.pos(pos))


def row_reward(start, rows):
    """rows: (N, ROW_LEN) numpy ints."""
    full = np.concatenate([start[:, None], rows], axis=1)
    steps = (np.abs(np.diff(full, axis=1)) == 1).sum(1)
    distinct = np.array([len(set(r)) for r in full])
    return steps + 0.5 * distinct / (ROW_LEN + 1)


def sequence_logprobs(model, start, rows):
    """Per-token log-probs of the given rows under the model, shape (N, ROW_LEN)."""
    prev = mx.concatenate([start[:, None], rows[:, :-1]], axis=1)
    pos = mx.broadcast_to(mx.arange(ROW_LEN)[None, :], rows.shape)
    logits = model(mx.broadcast_to(start[:, None], rows.shape), prev, pos)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return mx.take_along_axis(logp, rows[..., None], axis=-1).squeeze(-1)


class GRPOTrainer:
    def __init__(self, args):
        self.args = args
        self.model = RowPolicy()
        mx.eval(self.model.parameters())
        self.ref_model = copy.deepcopy(self.model)
        self.ref_model.freeze()
        self.optimizer = optim.Adam(learning_rate=args.learning_rate)
        self.step = 0
        self.loss_and_grad = nn.value_and_grad(self.model, self.grpo_loss)

    def rollout(self, start):
        rows = []
        prev = start
        for t in range(ROW_LEN):
            logits = self.model(start, prev, mx.full(start.shape, t, dtype=mx.int32))
            prev = mx.random.categorical(logits)
            rows.append(prev)
        return mx.stack(rows, axis=1)

    def grpo_loss(self, start, rows, advantages, ref_logp):
        logp = sequence_logprobs(self.model, start, rows)
        ratio = mx.exp(logp - mx.stop_gradient(logp))
        pg = -(ratio * advantages[:, None])
        d = ref_logp - logp
        kl = mx.exp(d) - d - 1.0
        return mx.mean(pg + self.args.beta * kl)

    def save_checkpoint(self, path):
        """Save model checkpoint"""
        os.makedirs(path, exist_ok=True)
        # Save model weights (.safetensors via Module.save_weights)
        self.model.save_weights(os.path.join(path, "model.safetensors"))

        # Save optimizer state as safetensors (dict[str, mx.array])
        if hasattr(self.optimizer, "state"):
            mx.save_safetensors(os.path.join(path, "optimizer.safetensors"), self.optimizer.state)

        # Save training state as JSON (non-array metadata)
        training_state = {"step": int(self.step), "args": self.args.__dict__}
        with open(os.path.join(path, "trainer_state.json"), "w") as f:
            json.dump(training_state, f, indent=2)

    def train(self):
        a = self.args
        rng = np.random.default_rng(a.seed)
        t0 = time.perf_counter()
        history = []
        for self.step in range(1, a.steps + 1):
            prompts = rng.integers(0, N_BELLS, size=a.prompts_per_step)
            start = mx.array(np.repeat(prompts, a.group_size).astype(np.int32))
            rows = self.rollout(start)
            rewards = row_reward(np.array(start), np.array(rows))
            grouped = rewards.reshape(a.prompts_per_step, a.group_size)
            adv = (grouped - grouped.mean(1, keepdims=True)) / (grouped.std(1, keepdims=True) + 1e-4)
            adv = mx.array(adv.reshape(-1).astype(np.float32))
            ref_logp = sequence_logprobs(self.ref_model, start, rows)
            loss, grads = self.loss_and_grad(start, rows, adv, ref_logp)
            self.optimizer.update(self.model, grads)
            mx.eval(self.model.parameters(), self.optimizer.state, loss)
            history.append(rewards.mean())
            if self.step % a.log_every == 0:
                print(f"step {self.step:4d}  loss {loss.item():+.4f}  mean_reward {np.mean(history[-a.log_every:]):.3f}  "
                      f"best_row_reward {rewards.max():.2f}  {time.perf_counter() - t0:.1f}s")
            if self.step % a.save_every == 0:
                ckpt = os.path.join(a.output_dir, f"step_{self.step:04d}")
                self.save_checkpoint(ckpt)
                print(f"checkpoint -> {os.path.relpath(ckpt)}")
        return history


def greedy_eval(model):
    start = mx.arange(N_BELLS).astype(mx.int32)
    prev, rows = start, []
    for t in range(ROW_LEN):
        prev = mx.argmax(model(start, prev, mx.full(start.shape, t, dtype=mx.int32)), axis=-1)
        rows.append(prev)
    rows = np.array(mx.stack(rows, axis=1))
    return row_reward(np.arange(N_BELLS), rows), rows


if __name__ == "__main__":
    args = Args()
    mx.random.seed(args.seed)
    trainer = GRPOTrainer(args)
    r0, _ = greedy_eval(trainer.model)
    print(f"greedy rows before training: mean reward {r0.mean():.3f} (max possible {ROW_LEN + 0.5:.2f})")
    trainer.train()
    r1, rows = greedy_eval(trainer.model)
    print(f"greedy rows after training: mean reward {r1.mean():.3f}")
    print("row from bell 3:", [3] + rows[3].tolist())
    saved = sorted(os.listdir(args.output_dir))
    print(f"checkpoints written: {saved}")
    shutil.rmtree(args.output_dir)
