# GRPO on a tiny ledger-tag policy: the model reads a short ledger line of
# tag tokens and must answer with the tag that dominates the line.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

np.random.seed(43)
mx.random.seed(43)

VOCAB = 12          # tags 0..9, 10 = separator, 11 = pad
SEP, PAD = 10, 11
N_TAGS = 10
LINE_LEN = 7


def make_line():
    major = np.random.randint(N_TAGS)
    others = np.random.randint(N_TAGS, size=LINE_LEN - 4)
    toks = np.concatenate([np.full(4, major), others])
    np.random.shuffle(toks)
    return [int(t) for t in toks] + [SEP], int(major)


train_set = [make_line() for _ in range(2000)]
test_set = [make_line() for _ in range(300)]


class LedgerPolicy(nn.Module):
    def __init__(self, dim=48):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, dim)
        self.mix = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, VOCAB)

    def __call__(self, x):
        h = self.embed(x)
        steps = mx.arange(1, x.shape[1] + 1).reshape(1, -1, 1)
        h = mx.cumsum(h, axis=1) / steps          # causal running mean
        h = nn.gelu(self.mix(h))
        h = h + nn.gelu(self.proj(h))
        return self.head(h)


model = LedgerPolicy()
model_ref = LedgerPolicy()
model_old = LedgerPolicy()
mx.eval(model.parameters())
model_ref.update(model.parameters())
model_old.update(model.parameters())
model_ref.freeze()
model_old.freeze()
model.embed.freeze()

num_train_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"Number of trainable parameters: {num_train_params:,}")


def calculate_log_probs(model, sequences, a_toks):
    """Log probability of the answer tokens that follow each prompt."""
    logits = model(sequences)
    n_ans = a_toks.shape[1]
    logits = logits[:, -n_ans - 1:-1, :]
    log_probs_full = nn.log_softmax(logits, axis=-1)
    log_probs = mx.take_along_axis(log_probs_full, a_toks[:, :, None], axis=-1).squeeze(-1)
    return mx.sum(log_probs, axis=-1)


def grpo_loss_fn(model, model_ref, sequences, a_toks, advantages, old_log_probs, beta, epsilon):
    log_probs = calculate_log_probs(model, sequences, a_toks)

    log_probs_ref = calculate_log_probs(model_ref, sequences, a_toks)

    ratio = mx.exp(log_probs - old_log_probs)
    clipped_ratio = mx.clip(ratio, 1.0 - epsilon, 1.0 + epsilon)
    policy_reward = mx.minimum(ratio * advantages, clipped_ratio * advantages)

    kl_div = log_probs - log_probs_ref

    loss = -mx.mean(policy_reward - beta * kl_div)
    return loss, mx.mean(policy_reward), mx.mean(kl_div)


def generate(model, prompt_tokens, temp=1.0):
    logits = model(mx.array(prompt_tokens)[None])[:, -1, :]
    if temp == 0.0:
        return int(mx.argmax(logits, axis=-1).item())
    return int(mx.random.categorical(logits / temp).item())


def evaluate(model, num_test):
    correct = 0
    for prompt, answer in test_set[:num_test]:
        correct += generate(model, prompt, temp=0.0) == answer
    return correct / num_test


def grpo_train_loop(model, model_old, model_ref, optimizer, train_set,
                    iters=150, group_size=8, batch_size=4, epsilon=0.2,
                    beta=0.02, update_every=5):
    loss_and_grad_fn = nn.value_and_grad(model, grpo_loss_fn)
    losses, all_rewards = [], []
    for it in range(iters):
        indices = np.random.randint(0, len(train_set), batch_size)
        rollout_sequences, rollout_a_toks, rollout_rewards = [], [], []
        for i in indices:
            prompt_tokens, answer = train_set[i]
            group_rewards = []
            for _ in range(group_size):
                response = generate(model_old, prompt_tokens)
                reward = 1.0 if response == answer else 0.0
                group_rewards.append(reward)
                rollout_sequences.append(mx.array(prompt_tokens + [response]))
                rollout_a_toks.append(mx.array([response]))
            all_rewards.extend(group_rewards)
            rollout_rewards.append(mx.array(group_rewards))

        advantages = []
        for rewards in rollout_rewards:
            mean_reward = mx.mean(rewards)
            std_reward = mx.sqrt(mx.var(rewards)) + 1e-8
            advantages.append((rewards - mean_reward) / std_reward)
        advantages = mx.concatenate(advantages)
        sequences = mx.stack(rollout_sequences)
        a_toks = mx.stack(rollout_a_toks)

        old_log_probs = calculate_log_probs(model_old, sequences, a_toks)

        (loss, policy_reward, kl_div), grads = loss_and_grad_fn(
            model, model_ref, sequences, a_toks, advantages, old_log_probs, beta, epsilon
        )
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)

        losses.append(loss.item())
        if (it + 1) % update_every == 0:
            model_old.update(model.parameters())
        if (it + 1) % 10 == 0:
            print(f"iter {it+1:4d} | loss {np.mean(losses[-10:]):+.4f} | "
                  f"mean reward {np.mean(all_rewards[-10 * batch_size * group_size:]):.3f} | "
                  f"kl {kl_div.item():+.4f}")
    return losses, all_rewards


print(f"Greedy accuracy before training: {evaluate(model, 300):.3f} (chance 0.100)")
opt = optim.Adam(learning_rate=3e-3)
model.train()
start = time.time()
losses, rewards = grpo_train_loop(model, model_old, model_ref, opt, train_set)
print(f"Training finished in {time.time() - start:.2f}s")
model.eval()
print(f"Greedy accuracy after training: {evaluate(model, 300):.3f} (chance 0.100)")
