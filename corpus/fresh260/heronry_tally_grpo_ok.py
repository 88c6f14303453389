import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

VOCAB = 10
PROMPT_LEN = 1
MAX_TOKENS = 4
GROUP_SIZE = 4
BATCH_SIZE = 8
ITERS = 120
STEPS_PER_REPORT = 10
BETA = 0.04
CLIP_EPS = 0.2
EPSILON = 1e-4
LR = 1e-3


class TinyPolicy(nn.Module):
    def __init__(self, vocab=VOCAB, dims=48, heads=4, layers=1, max_len=16):
        super().__init__()
        self.tok = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(max_len, dims)
        self.blocks = [nn.TransformerEncoderLayer(dims, heads, 2 * dims) for _ in range(layers)]
        self.norm = nn.LayerNorm(dims)
        self.head = nn.Linear(dims, vocab)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for b in self.blocks:
            h = b(h, mask)
        return self.head(self.norm(h))


def successor_match(prompts, completions, answer):
    return [sum(1.0 for t in c if t == a) / len(c) for c, a in zip(completions, answer)]


def lead_match(prompts, completions, answer):
    return [1.0 if c[0] == a else 0.0 for c, a in zip(completions, answer)]


REWARD_FUNCS = [successor_match, lead_match]


def generate_group(model, prompts, temperature=1.0):
    x = mx.repeat(prompts, GROUP_SIZE, axis=0)
    for _ in range(MAX_TOKENS):
        logits = model(x)[:, -1, :] / temperature
        nxt = mx.random.categorical(logits)
        x = mx.concatenate([x, nxt[:, None]], axis=1)
    mx.eval(x)
    return mx.stop_gradient(x)


def per_token_logps(model, seqs):
    logits = model(seqs[:, :-1]).astype(mx.float32)
    logp = nn.log_softmax(logits, axis=-1)
    tgt = seqs[:, 1:]
    lp = mx.take_along_axis(logp, tgt[..., None], axis=-1).squeeze(-1)
    return lp[:, PROMPT_LEN - 1:]


def grpo_loss(model, ref_model, seqs, rewards_by_func):
    token_log_probs = per_token_logps(model, seqs)
    ref_token_log_probs = mx.stop_gradient(per_token_logps(ref_model, seqs))
    old_log_probs = mx.stop_gradient(token_log_probs)

    rewards = mx.stack(rewards_by_func, axis=1).sum(axis=1)
    grouped = rewards.reshape(-1, GROUP_SIZE)
    mean_r = mx.mean(grouped, axis=1, keepdims=True)
    std_r = mx.std(grouped, axis=1, keepdims=True)
    advantages = ((grouped - mean_r) / (std_r + EPSILON)).reshape(-1)

    kl_div = mx.exp(ref_token_log_probs - token_log_probs) - (ref_token_log_probs - token_log_probs) - 1
    ratio = mx.exp(token_log_probs - old_log_probs)
    unclipped = ratio * advantages[:, None]
    clipped = mx.clip(ratio, 1 - CLIP_EPS, 1 + CLIP_EPS) * advantages[:, None]
    per_token_loss = -mx.minimum(unclipped, clipped) + BETA * kl_div
    loss = per_token_loss.mean()

    metrics = {
        "total_rewards_mean": mx.mean(rewards),
        "total_rewards_std": mx.std(rewards),
        "grouped_rewards_mean": mx.mean(mean_r),
        "grouped_rewards_std": mx.mean(std_r),
        "kl": kl_div.mean(),
    }
    for f, r in zip(REWARD_FUNCS, rewards_by_func):
        metrics[f"{f.__name__}_mean"] = mx.mean(r)
        metrics[f"{f.__name__}_std"] = mx.std(r)
    return loss, (per_token_loss.size, metrics)


def sample_prompts(n):
    p = mx.random.randint(0, VOCAB, (n, PROMPT_LEN))
    answers = ((p[:, -1] + 1) % VOCAB).tolist()
    return p, answers


def greedy_eval(model, n=64):
    p, answers = sample_prompts(n)
    x = p
    for _ in range(MAX_TOKENS):
        nxt = mx.argmax(model(x)[:, -1, :], axis=-1)
        x = mx.concatenate([x, nxt[:, None]], axis=1)
    comps = x[:, PROMPT_LEN:].tolist()
    return sum(successor_match(None, comps, answers)) / n


def main():
    mx.random.seed(0)
    model = TinyPolicy()
    ref_model = TinyPolicy()
    ref_model.update(model.parameters())
    ref_model.freeze()
    mx.eval(model.parameters(), ref_model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"policy params: {n_params}, group size {GROUP_SIZE}, prompts/step {BATCH_SIZE}")

    optimizer = optim.Adam(learning_rate=LR)
    loss_and_grad = nn.value_and_grad(model, grpo_loss)

    def step(prompts, answers):
        seqs = generate_group(model, prompts)
        comps = seqs[:, PROMPT_LEN:].tolist()
        exp_answers = [a for a in answers for _ in range(GROUP_SIZE)]
        rewards_by_func = [mx.array(f(None, comps, exp_answers)) for f in REWARD_FUNCS]
        (loss, (toks, metrics)), grads = loss_and_grad(model, ref_model, seqs, rewards_by_func)
        optimizer.update(model, grads)
        return loss, toks, metrics

    print(f"Starting eval successor rate {greedy_eval(model):.3f}")
    losses = 0
    n_tokens = 0
    steps = 0
    accumulated_metrics = {"total_rewards_mean": 0, "total_rewards_std": 0, "grouped_rewards_mean": 0,
                           "grouped_rewards_std": 0, "kl": 0}
    for f in REWARD_FUNCS:
        accumulated_metrics[f"{f.__name__}_mean"] = 0
        accumulated_metrics[f"{f.__name__}_std"] = 0
    world_size = 1
    start = time.perf_counter()

    for it in range(1, ITERS + 1):
        prompts, answers = sample_prompts(BATCH_SIZE)
        loss, toks, metrics = step(prompts, answers)
        losses += loss
        n_tokens += toks
        steps += 1
        for k, v in metrics.items():
            accumulated_metrics[k] += v
        mx.eval(model.parameters(), optimizer.state, losses, accumulated_metrics)

        if it % STEPS_PER_REPORT == 0 or it == ITERS:
            stop = time.perf_counter()
            train_loss = losses.item() / (steps * world_size)
            avg_metrics = {k: float(v) / (steps * world_size) for k, v in accumulated_metrics.items()}
            it_sec = STEPS_PER_REPORT / (stop - start)
            s = (f"Train loss {train_loss:.3f}, "
                 f"Total rewards mean {avg_metrics['total_rewards_mean']:.3f}, "
                 f"Total rewards std {avg_metrics['total_rewards_std']:.3f}, "
                 f"Grouped rewards mean {avg_metrics['grouped_rewards_mean']:.3f}, "
                 f"Grouped rewards std {avg_metrics['grouped_rewards_std']:.3f}, "
                 f"KL {avg_metrics['kl']:.4f}")
            for f in REWARD_FUNCS:
                n = f.__name__
                s += f", {n} mean {avg_metrics[n + '_mean']:.3f}"
            print(f"Iter {it}: {s}, Learning Rate {LR:.3e}, It/sec {it_sec:.2f}", flush=True)
            losses = 0
            n_tokens = 0
            steps = 0
            accumulated_metrics = {k: 0 for k in accumulated_metrics}
            start = time.perf_counter()

    print(f"Final eval successor rate {greedy_eval(model):.3f}")


if __name__ == "__main__":
    main()
