"""Tiny GRPO run: a small causal LM learns to answer prompts with the 'tally' token.

Prompts have different lengths, so each minibatch is padded to its longest prompt
before rollouts are sampled. Rewards are group-normalised per prompt (GRPO).
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB = 16
PAD, EOS, TALLY = 0, 1, 7
DIM = 48
GEN_LEN = 6


class TinyTokenizer:
    pad_token_id = PAD
    eos_token_id = EOS


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(32, DIM)
        self.attn = nn.MultiHeadAttention(DIM, 4)
        self.ln1 = nn.LayerNorm(DIM)
        self.ln2 = nn.LayerNorm(DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 4 * DIM), nn.GELU(), nn.Linear(4 * DIM, DIM))
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, tokens):
        L = tokens.shape[1]
        h = self.embed(tokens) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        x = self.ln1(h)
        h = h + self.attn(x, x, x, mask=mask)
        h = h + self.mlp(self.ln2(h))
        return self.head(h)


class Config:
    num_rollout_samples = 4
    learning_rate = 5e-4
    prompts_per_step = 4
    steps = 60


class GRPOTrainer:
    def __init__(self, config):
        self.config = config
        self.tokenizer = TinyTokenizer()
        self.actor_model = TinyLM()
        self.optimizer = optim.AdamW(learning_rate=config.learning_rate, weight_decay=0.0)
        mx.eval(self.actor_model.parameters())

    def generate_rollouts(self, prompts_list_of_arrays):
        max_prompt_len_mb = max(arr.shape[0] for arr in prompts_list_of_arrays)
        padded_prompts_mx = mx.array(
            [
                mx.concatenate(
                    [
                        arr,
                        mx.full(
                            (max_prompt_len_mb - arr.shape[0],),
                            self.tokenizer.pad_token_id,
                            dtype=mx.int32,
                        ),
                    ],
                    axis=0,
                )
                for arr in prompts_list_of_arrays
            ],
            dtype=mx.int32,
        )

        n = self.config.num_rollout_samples
        prompts_rep = mx.repeat(padded_prompts_mx, repeats=n, axis=0)
        seq = prompts_rep
        for _ in range(GEN_LEN):
            logits = self.actor_model(seq)[:, -1, :]
            tok = mx.random.categorical(logits).astype(mx.int32)
            seq = mx.concatenate([seq, tok[:, None]], axis=1)
        responses = seq[:, prompts_rep.shape[1]:]
        mx.eval(seq)

        rewards = (responses == TALLY).astype(mx.float32).mean(axis=1)
        grouped = rewards.reshape(-1, n)
        adv = (grouped - grouped.mean(axis=1, keepdims=True)) / (
            mx.sqrt(grouped.var(axis=1, keepdims=True)) + 1e-4
        )
        return seq, prompts_rep.shape[1], adv.reshape(-1), rewards

    def loss_fn(self, model, seq, prompt_len, adv):
        logits = model(seq[:, :-1])[:, prompt_len - 1:, :]
        targets = seq[:, prompt_len:]
        logp = -nn.losses.cross_entropy(logits, targets, reduction="none")
        return -(adv[:, None] * logp).mean()

    def train(self, prompt_pool, rng):
        loss_and_grad = nn.value_and_grad(self.actor_model, self.loss_fn)
        for step in range(1, self.config.steps + 1):
            idx = rng.choice(len(prompt_pool), self.config.prompts_per_step, replace=False)
            batch = [prompt_pool[i] for i in idx]
            seq, plen, adv, rewards = self.generate_rollouts(batch)
            loss, grads = loss_and_grad(self.actor_model, seq, plen, adv)
            self.optimizer.update(self.actor_model, grads)
            mx.eval(self.actor_model.parameters(), self.optimizer.state, loss)
            if step % 5 == 0 or step == 1:
                print(f"step {step:3d} | pg_loss {loss.item():+.4f} | "
                      f"reward_mean {rewards.mean().item():.3f} | prompt_pad_len {plen}")


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    prompt_pool = [
        mx.array(rng.integers(2, VOCAB, size=rng.integers(3, 8)), dtype=mx.int32)
        for _ in range(64)
    ]
    trainer = GRPOTrainer(Config())
    print(f"prompts {len(prompt_pool)} | rollouts per prompt {trainer.config.num_rollout_samples} | lr {trainer.config.learning_rate}")
    t0 = time.time()
    trainer.train(prompt_pool, rng)

    eval_prompts = prompt_pool[:8]
    _, _, _, rewards = trainer.generate_rollouts(eval_prompts)
    print(f"final eval reward (share of tally tokens): {rewards.mean().item():.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
