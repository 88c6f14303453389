# Tiny GRPO run: a policy learns to emit a digit pattern keyed on the prompt.
# Loss follows mlx-lm-lora's grpo_loss (token-level importance sampling, PPO-style clip).
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

V, L, P, G = 10, 5, 6, 8   # vocab, completion length, prompts, generations per prompt


class Policy(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.prompt_emb = nn.Embedding(P, hidden)
        self.pos_emb = nn.Embedding(L, hidden)
        self.prev_emb = nn.Embedding(V + 1, hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, V))

    def __call__(self, prompts, prev_tokens):
        # prompts (B,), prev_tokens (B, L) with BOS=V in front
        pos = mx.arange(L)
        h = self.prompt_emb(prompts)[:, None, :] + self.pos_emb(pos)[None] + self.prev_emb(prev_tokens)
        return self.mlp(h)


def reward_fn(prompts, completions):
    target = (prompts[:, None] * 3 + mx.arange(L)[None, :] * 2) % V
    return (completions == target).astype(mx.float32).mean(axis=1)


def sample(model, prompts, temperature=1.0):
    B = prompts.shape[0]
    toks = mx.full((B, L), V, dtype=mx.int32)
    out = []
    for t in range(L):
        logits = model(prompts, toks)[:, t, :] / temperature
        nxt = mx.random.categorical(logits)
        out.append(nxt)
        if t + 1 < L:
            toks[:, t + 1] = nxt
    comp = mx.stack(out, axis=1).astype(mx.int32)
    return comp


def token_logprobs(model, prompts, comp):
    prev = mx.concatenate([mx.full((comp.shape[0], 1), V, dtype=mx.int32), comp[:, :-1]], axis=1)
    logits = model(prompts, prev)
    lp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return mx.take_along_axis(lp, comp[..., None], axis=-1).squeeze(-1)


def grpo_loss(model, prompts, comp, old_log_probs, advantages, lengths,
              beta=0.0, epsilon=0.2, epsilon_high=None,
              importance_sampling_level="token"):
    token_log_probs = token_logprobs(model, prompts, comp)
    length_mask = mx.arange(comp.shape[1])[None, :] < lengths[:, None]
    log_ratio = token_log_probs - mx.stop_gradient(old_log_probs)

    if importance_sampling_level == "token":
        log_importance_weights = log_ratio
    elif importance_sampling_level == "sequence":
        sequence_log_ratio = (log_ratio * length_mask).sum(axis=1) / mx.maximum(length_mask.sum(axis=1), 1.0)
        log_importance_weights = mx.expand_dims(sequence_log_ratio, axis=1)
    else:
        log_importance_weights = mx.zeros_like(log_ratio)

    coef_1 = mx.exp(log_importance_weights)
    coef_2 = mx.clip(coef_1, 1 - epsilon, 1 + epsilon_high)

    # Apply PPO like clipping
    epsilon_high = epsilon_high if epsilon_high else epsilon
    coef_2 = mx.clip(coef_1, 1 - epsilon, 1 + epsilon_high)

    unclipped_obj = coef_1 * advantages.reshape(-1, 1)
    clipped_obj = coef_2 * advantages.reshape(-1, 1)
    per_token_loss = -mx.minimum(unclipped_obj, clipped_obj)
    loss = (per_token_loss * length_mask).sum() / length_mask.sum()
    return loss


def group_advantages(rewards):
    r = rewards.reshape(-1, G)
    adv = (r - r.mean(axis=1, keepdims=True)) / (r.std(axis=1, keepdims=True) + 1e-4)
    return adv.reshape(-1)


def main():
    mx.random.seed(7)
    model = Policy()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    loss_and_grad = nn.value_and_grad(model, grpo_loss)
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"policy params: {n_params}, prompts={P}, group={G}")

    prompts = mx.repeat(mx.arange(P), G)
    lengths = mx.full((P * G,), L, dtype=mx.int32)
    t0 = time.time()
    for it in range(1, 121):
        comp = sample(model, prompts)
        old_lp = mx.stop_gradient(token_logprobs(model, prompts, comp))
        rewards = reward_fn(prompts, comp)
        adv = group_advantages(rewards)
        mx.eval(comp, old_lp, rewards, adv)
        for _ in range(2):  # two policy epochs on the same rollouts
            loss, grads = loss_and_grad(model, prompts, comp, old_lp, adv, lengths)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
        if it % 10 == 0:
            greedy = sample(model, mx.arange(P), temperature=0.05)
            acc = reward_fn(mx.arange(P), greedy).mean().item()
            print(f"iter {it:4d} | loss {loss.item():+.4f} | reward {rewards.mean().item():.3f} "
                  f"| greedy_acc {acc:.3f} | {time.time() - t0:.1f}s")
    print("done")


if __name__ == "__main__":
    main()
