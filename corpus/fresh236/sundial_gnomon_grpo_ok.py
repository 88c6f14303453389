"""GRPO on a toy 'sundial' task: given an hour digit, answer the shadow digit.

A bigram policy (embedding + MLP) reads one prompt token and emits one
completion token. Rewards follow the R1 recipe: an accuracy reward against
the expected answer and a small format reward for emitting a digit.
"""

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)

VOCAB = list("0123456789abcdef")
V = len(VOCAB)


def shadow(h):
    return (3 * h + 1) % 10


DATA = [(h, str(shadow(h))) for h in range(10)]


class Policy(nn.Module):
    def __init__(self, vocab, dim=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.l1 = nn.Linear(dim, 64)
        self.l2 = nn.Linear(64, vocab)

    def __call__(self, x):
        return self.l2(nn.gelu(self.l1(self.emb(x))))


def accuracy_reward_func(prompts, completions, answer, **kwargs):
    return [2.0 if r.strip() == a else 0.0 for r, a in zip(completions, answer)]


def int_reward_func(prompts, completions, answer, **kwargs):
    return [0.5 if r.strip().isdigit() else 0.0 for r in completions]


def grpo_loss(model, ref_model, prompt_tokens, answer_text, prompt_text,
              reward_funcs, group_size=8, beta=0.04, epsilon=1e-4, temperature=1.0):
    batch_size = len(prompt_tokens)

    # Generate group_size completions per prompt
    all_completions = []
    all_completion_texts = []
    for i in range(batch_size):
        prompt = mx.array([prompt_tokens[i]])
        logits = mx.stop_gradient(model(prompt))
        for _ in range(group_size):
            tok = mx.random.categorical(logits / temperature)
            tok_id = tok.item()
            all_completions.append(mx.array([prompt_tokens[i], tok_id]))
            all_completion_texts.append(VOCAB[tok_id])

    # Prepare inputs
    expanded_answers = []
    expanded_prompts = []
    for i in range(batch_size):
        expanded_answers.extend([answer_text[i]] * group_size)
        expanded_prompts.extend([prompt_text[i]] * group_size)

    inputs = mx.stack(all_completions)
    lengths = mx.full((inputs.shape[0],), inputs.shape[1])

    logits = model(inputs).astype(mx.float32)
    log_probs = nn.log_softmax(logits[:, :-1, :], axis=-1)
    targets = inputs[:, 1:]
    token_log_probs = mx.take_along_axis(
        log_probs, targets.reshape(*targets.shape, 1), axis=-1
    ).squeeze(-1)

    ref_logits = mx.stop_gradient(ref_model(inputs).astype(mx.float32))
    ref_log_probs = nn.log_softmax(ref_logits[:, :-1, :], axis=-1)
    ref_token_log_probs = mx.take_along_axis(
        ref_log_probs, targets.reshape(*targets.shape, 1), axis=-1
    ).squeeze(-1)

    # Calculate rewards and advantages
    rewards = mx.zeros((len(all_completions),))
    for reward_func in reward_funcs:
        func_rewards = mx.array(reward_func(
            prompts=expanded_prompts,
            completions=all_completion_texts,
            answer=expanded_answers
        ))
        rewards += func_rewards

    if len(reward_funcs) > 1:
        rewards /= len(reward_funcs)

    rewards_reshaped = rewards.reshape(batch_size, group_size)
    mean_rewards = mx.broadcast_to(mx.mean(rewards_reshaped, axis=1)[:, None],
                                   (batch_size, group_size)).reshape(-1)
    std_rewards = mx.broadcast_to(mx.std(rewards_reshaped, axis=1)[:, None],
                                  (batch_size, group_size)).reshape(-1)
    advantages = (rewards - mean_rewards) / (std_rewards + epsilon)

    kl_div = mx.exp(ref_token_log_probs - token_log_probs) - (ref_token_log_probs - token_log_probs) - 1
    length_mask = mx.arange(inputs.shape[1] - 1)[None, :] < (lengths[:, None] - 1)
    policy_ratio = mx.exp(token_log_probs - mx.stop_gradient(token_log_probs))
    per_token_loss = -(policy_ratio * advantages.reshape(-1, 1) - beta * kl_div)

    sequence_sums = (per_token_loss * length_mask).sum(axis=1)
    sequence_lengths = length_mask.sum(axis=1)
    loss = (sequence_sums / sequence_lengths).mean()
    mean_kl = ((kl_div * length_mask).sum(axis=1) / length_mask.sum(axis=1)).mean()

    reward_metrics = {}
    for i, reward_func in enumerate(reward_funcs):
        func_rewards = mx.array(reward_func(
            prompts=expanded_prompts,
            completions=all_completion_texts,
            answer=expanded_answers
        ))
        reward_metrics[f"reward_func_{i}_mean"] = mx.mean(func_rewards)

    metrics = {"total_rewards_mean": mx.mean(rewards), "kl": mean_kl, **reward_metrics}
    return loss, sequence_lengths.sum(), metrics


def greedy_accuracy(model):
    hours = mx.array([h for h, _ in DATA])
    preds = mx.argmax(model(hours), axis=-1).tolist()
    hits = sum(VOCAB[p] == a for p, (_, a) in zip(preds, DATA))
    digits = sum(VOCAB[p].isdigit() for p in preds)
    return hits / len(DATA), digits / len(DATA)


def main():
    model = Policy(V)
    ref_model = Policy(V)
    ref_model.update(model.parameters())
    ref_model.freeze()
    mx.eval(model.parameters(), ref_model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"policy params: {n_params}")

    opt = optim.Adam(learning_rate=3e-3)
    reward_funcs = [accuracy_reward_func, int_reward_func]
    batch_size = 1
    iters = 400

    def loss_fn(model, prompt_tokens, answer_text, prompt_text):
        loss, ntoks, metrics = grpo_loss(model, ref_model, prompt_tokens, answer_text,
                                         prompt_text, reward_funcs)
        return loss, (ntoks, metrics)

    loss_and_grad = nn.value_and_grad(model, loss_fn)

    acc, dig = greedy_accuracy(model)
    print(f"iter 0: greedy acc {acc:.2f}, digit rate {dig:.2f}")
    tic = time.perf_counter()
    run_r, run_acc, run_kl, n = 0.0, 0.0, 0.0, 0
    order = mx.random.permutation(len(DATA) * (iters // len(DATA) + 1)).tolist()
    for it in range(1, iters + 1):
        idx = [order[(it - 1 + j) % len(order)] % len(DATA) for j in range(batch_size)]
        prompt_tokens = [DATA[k][0] for k in idx]
        prompt_text = [VOCAB[DATA[k][0]] for k in idx]
        answer_text = [DATA[k][1] for k in idx]
        (loss, (ntoks, metrics)), grads = loss_and_grad(model, prompt_tokens, answer_text, prompt_text)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run_r += metrics["total_rewards_mean"].item()
        run_acc += metrics["reward_func_0_mean"].item()
        run_kl += metrics["kl"].item()
        n += 1
        if it % 50 == 0:
            acc, dig = greedy_accuracy(model)
            print(f"iter {it}: loss {loss.item():+.4f} reward {run_r / n:.3f} "
                  f"acc_reward {run_acc / n:.3f} kl {run_kl / n:.4f} | "
                  f"greedy acc {acc:.2f} digit rate {dig:.2f} | {time.perf_counter() - tic:.1f}s")
            run_r, run_acc, run_kl, n = 0.0, 0.0, 0.0, 0

    acc, dig = greedy_accuracy(model)
    print(f"final greedy accuracy {acc:.2f} (chance 0.10), digit rate {dig:.2f}")


if __name__ == "__main__":
    main()
