"""GRPO fine-tuning of a tiny next-token policy on a toy "counting" task.

Each prompt is a digit; the policy should continue by counting upward
(mod 10) for the length of the completion. Rewards come from small reward functions, the
loss is the clipped GRPO objective with a KL penalty to a frozen reference.
"""
import copy
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB = 10
COMPLETION_LEN = 4


class DigitTokenizer:
    def encode(self, text):
        return [int(c) for c in text]

    def decode(self, ids):
        return "".join(str(int(i)) for i in ids)


class TinyPolicy(nn.Module):
    def __init__(self, vocab=VOCAB, dim=32):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 64), nn.GELU(), nn.Linear(64, vocab))

    def __call__(self, tokens):
        return self.mlp(self.embed(tokens))


@dataclass
class GRPOTrainingArgs:
    batch_size: int = 8
    iters: int = 120
    val_batches: int = 2
    steps_per_report: int = 10
    steps_per_eval: int = 20
    group_size: int = 6
    beta: float = 0.04
    epsilon: float = 0.2
    max_seq_length: int = 8


def generate_for_grpo(model, prompt_ids, length, temperature=1.0):
    tokens = prompt_ids
    out = []
    for _ in range(length):
        logits = model(tokens[:, -1:])[:, -1, :]
        nxt = mx.random.categorical(logits / temperature)
        out.append(nxt)
        tokens = mx.concatenate([tokens, nxt[:, None]], axis=1)
    return mx.stop_gradient(mx.stack(out, axis=1))


def accuracy_reward_func(prompts, completions, answer, **kwargs):
    return [1.0 if c == a else 0.0 for c, a in zip(completions, answer)]


def partial_match_reward_func(prompts, completions, answer, **kwargs):
    return [sum(x == y for x, y in zip(c, a)) / len(c) for c, a in zip(completions, answer)]


def token_logprobs(model, prompt_ids, completion):
    inputs = mx.concatenate([prompt_ids, completion[:, :-1]], axis=1)
    logits = model(inputs)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return mx.take_along_axis(logp, completion[..., None], axis=-1).squeeze(-1)


def grpo_loss(model, tokenizer, batch, reward_funcs, beta, group_size, epsilon, ref_model):
    prompt_ids, answers = batch
    prompts = mx.repeat(prompt_ids, group_size, axis=0)
    completion = generate_for_grpo(model, prompts, COMPLETION_LEN)

    texts = [tokenizer.decode(row) for row in np.array(completion)]
    prompt_texts = [tokenizer.decode(row) for row in np.array(prompts)]
    answer_texts = [a for a in answers for _ in range(group_size)]

    rewards = mx.zeros((len(texts),))
    metrics = {}
    for i, fn in enumerate(reward_funcs):
        r = mx.array(fn(prompts=prompt_texts, completions=texts, answer=answer_texts))
        metrics[f"reward_func_{i}_mean"] = mx.mean(r)
        rewards = rewards + r

    grouped = rewards.reshape(-1, group_size)
    mean_g = mx.repeat(grouped.mean(axis=1), group_size)
    std_g = mx.repeat(mx.sqrt(grouped.var(axis=1)), group_size)
    advantages = (rewards - mean_g) / (std_g + 1e-4)

    logp = token_logprobs(model, prompts, completion)
    old_logp = mx.stop_gradient(logp)
    ref_logp = mx.stop_gradient(token_logprobs(ref_model, prompts, completion))

    ratio = mx.exp(logp - old_logp)
    clipped = mx.clip(ratio, 1 - epsilon, 1 + epsilon)
    adv = advantages[:, None]
    surrogate = mx.minimum(ratio * adv, clipped * adv)
    kl = mx.exp(ref_logp - logp) - (ref_logp - logp) - 1
    per_token = -(surrogate - beta * kl)
    loss = per_token.mean()

    ntoks = mx.array(per_token.size)
    metrics["rewards"] = rewards.mean()
    metrics["grouped_rewards_std"] = std_g.mean()
    metrics["kl"] = kl.mean()
    return loss, ntoks, metrics


def iterate_grpo_batches(dataset, tokenizer, batch_size, max_seq_length, train=False):
    rng = np.random.default_rng(0 if not train else None)
    while True:
        idx = rng.permutation(len(dataset)) if train else np.arange(len(dataset))
        for s in range(0, len(idx) - batch_size + 1, batch_size):
            rows = [dataset[j] for j in idx[s:s + batch_size]]
            prompt_ids = mx.array([tokenizer.encode(p) for p, _ in rows])
            yield prompt_ids, [a for _, a in rows]
        if not train:
            break


def evaluate_grpo(model, ref_model, dataset, tokenizer, batch_size, num_batches, beta,
                  epsilon, group_size, max_seq_length, reward_funcs=None,
                  loss=grpo_loss, iterate_batches=iterate_grpo_batches):
    all_losses = 0
    ntokens = 0
    all_metrics = None
    index_iterator = iter(range(num_batches)) if num_batches != -1 else iter(int, 1)
    for _, batch in zip(
        index_iterator,
        iterate_batches(dataset=dataset, tokenizer=tokenizer, batch_size=batch_size,
                        max_seq_length=max_seq_length),
    ):
        losses, toks, metrics = loss(
            model=model,
            tokenizer=tokenizer,
            batch=batch,
            reward_funcs=reward_funcs,
            beta=beta,
            group_size=group_size,
            epsilon=epsilon,
            ref_model=ref_model,
        )
        all_losses += losses * toks
        ntokens += toks
        if all_metrics is None:
            all_metrics = {k: v * toks for k, v in metrics.items()}
        else:
            for k, v in metrics.items():
                all_metrics[k] += v * toks
        mx.eval(all_losses, ntokens)
    avg_metrics = {k: (v / ntokens).item() for k, v in all_metrics.items()}
    return (all_losses / ntokens).item(), ntokens.item(), avg_metrics


def train_grpo(model, ref_model, tokenizer, optimizer, train_dataset, val_dataset,
               reward_funcs, args=GRPOTrainingArgs(), loss=grpo_loss,
               iterate_batches=iterate_grpo_batches):
    print(f"Starting GRPO training with {len(reward_funcs)} reward functions..., iters: {args.iters}")
    state = [model.state, optimizer.state]

    def step(batch):
        (loss_val, toks, metrics), grad = loss_value_and_grad(
            model,
            tokenizer=tokenizer,
            batch=batch,
            reward_funcs=reward_funcs,
            beta=args.beta,
            group_size=args.group_size,
            epsilon=args.epsilon,
            ref_model=ref_model,
        )
        optimizer.update(model, grad)
        return loss_val, toks, metrics

    loss_value_and_grad = nn.value_and_grad(model, loss)

    losses = 0
    n_tokens = 0
    steps = 0
    accumulated = {}
    start = time.perf_counter()
    for it, batch in zip(
        range(1, args.iters + 1),
        iterate_batches(dataset=train_dataset, tokenizer=tokenizer, batch_size=args.batch_size,
                        max_seq_length=args.max_seq_length, train=True),
    ):
        if it == 1 or it % args.steps_per_eval == 0 or it == args.iters:
            stop = time.perf_counter()
            val_loss, _, val_metrics = evaluate_grpo(
                model=model,
                ref_model=ref_model,
                dataset=val_dataset,
                tokenizer=tokenizer,
                batch_size=args.batch_size,
                num_batches=args.val_batches,
                beta=args.beta,
                epsilon=args.epsilon,
                group_size=args.group_size,
                max_seq_length=args.max_seq_length,
                reward_funcs=reward_funcs,
                loss=loss,
                iterate_batches=iterate_batches,
            )
            print(
                f"Iter {it}: Val loss {val_loss:.5f}, Val rewards {val_metrics['rewards']:.3f}, "
                f"Val exact {val_metrics['reward_func_0_mean']:.3f}, Val kl {val_metrics['kl']:.4f}, "
                f"Val took {time.perf_counter() - stop:.3f}s",
                flush=True,
            )
            start = time.perf_counter()

        loss_val, toks, metrics = step(batch)
        losses += loss_val
        n_tokens += toks
        steps += 1
        for k, v in metrics.items():
            accumulated[k] = accumulated.get(k, 0) + v
        mx.eval(state, losses, n_tokens)

        if it % args.steps_per_report == 0 or it == args.iters:
            stop = time.perf_counter()
            train_loss = (losses / steps).item()
            avg = {k: (v / steps).item() for k, v in accumulated.items()}
            print(
                f"Iter {it}: Train loss {train_loss:.5f}, Rewards {avg['rewards']:.3f}, "
                f"Exact {avg['reward_func_0_mean']:.3f}, KL {avg['kl']:.4f}, "
                f"Learning Rate {optimizer.learning_rate.item():.3e}, "
                f"It/sec {args.steps_per_report / (stop - start):.2f}",
                flush=True,
            )
            losses, n_tokens, steps, accumulated = 0, 0, 0, {}
            start = time.perf_counter()
    print("Training complete.")


def main():
    mx.random.seed(7)
    np.random.seed(7)
    tok = DigitTokenizer()
    def count_up(d):
        return "".join(str((d + k) % VOCAB) for k in range(1, COMPLETION_LEN + 1))

    data = [(str(d), count_up(d)) for d in range(VOCAB)] * 8
    train_set, val_set = data, [(str(d), count_up(d)) for d in range(VOCAB)] * 2

    model = TinyPolicy()
    mx.eval(model.parameters())
    ref_model = copy.deepcopy(model)
    ref_model.freeze()

    optimizer = optim.Adam(learning_rate=2e-3)
    train_grpo(
        model, ref_model, tok, optimizer, train_set, val_set,
        reward_funcs=[accuracy_reward_func, partial_match_reward_func],
        args=GRPOTrainingArgs(),
    )


if __name__ == "__main__":
    main()
