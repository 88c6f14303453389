# Tiny GRPO: a policy emits 4 tokens (vocab 6) for one of 5 prompts; reward = fraction of tokens that
# match the prompt's hidden pattern. Groups of 8 samples per prompt, group-normalised advantages,
# PPO-style clipped ratio objective, loss type "grpo", beta = 0 (no KL term).
import logging, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("grpo")

P, V, L, G = 5, 6, 4, 8
EPS = 0.2
importance_sampling_level = "token"  # config default

mx.random.seed(3)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(P, 32)
        self.hidden = nn.Linear(32, 64)
        self.head = nn.Linear(64, L * V)

    def __call__(self, prompts):
        h = nn.relu(self.hidden(self.emb(prompts)))
        return self.head(h).reshape(-1, L, V)


def target_tokens(prompts):
    return (prompts[:, None] * 2 + mx.arange(L)[None, :]) % V


def token_logprobs(model, prompts, completions):
    lp = nn.log_softmax(model(prompts), axis=-1)
    return mx.take_along_axis(lp, completions[..., None], axis=-1).squeeze(-1)


def grpo_loss(model, prompts, completions, old_logps, advantages):
    token_log_probs = token_logprobs(model, prompts, completions)
    length_mask = mx.ones_like(token_log_probs)
    log_ratio = token_log_probs - mx.stop_gradient(old_logps)
    if importance_sampling_level == "token":
        log_importance_weights = log_ratio
    elif importance_sampling_level == "sequence":
        seq = (log_ratio * length_mask).sum(axis=1) / mx.maximum(length_mask.sum(axis=1), 1.0)
        log_importance_weights = mx.expand_dims(seq, axis=1)
    elif importance_sampling_level is None or importance_sampling_level == "none":
        log_importance_weights = mx.zeros_like(log_ratio)
    else:
        raise ValueError(importance_sampling_level)
    coef_1 = mx.exp(log_importance_weights)
    coef_2 = mx.clip(coef_1, 1 - EPS, 1 + EPS)
    adv = advantages.reshape(-1, 1)
    per_token_loss = -mx.minimum(coef_1 * adv, coef_2 * adv)
    return (per_token_loss * length_mask).sum() / length_mask.sum()


policy = Policy()
mx.eval(policy.parameters())
opt = optim.AdamW(learning_rate=5e-4, weight_decay=0.0)
loss_and_grad = nn.value_and_grad(policy, grpo_loss)

t0 = time.time()
rewards_hist = []
for it in range(1, 2001):
    prompts = mx.repeat(mx.random.randint(0, P, (4,)), G)  # 4 prompts x 8 samples
    logits = policy(prompts)
    completions = mx.random.categorical(logits)  # (32, L)
    old_logps = mx.stop_gradient(token_logprobs(policy, prompts, completions))
    rewards = (completions == target_tokens(prompts)).astype(mx.float32).mean(axis=1)
    r = rewards.reshape(-1, G)
    adv = ((r - r.mean(axis=1, keepdims=True)) / (r.std(axis=1, keepdims=True) + 1e-4)).reshape(-1)
    loss, grads = loss_and_grad(policy, prompts, completions, old_logps, adv)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state)
    rewards_hist.append(rewards.mean().item())
    if it % 100 == 0:
        greedy = mx.argmax(policy(mx.arange(P)), axis=-1)
        acc = (greedy == target_tokens(mx.arange(P))).astype(mx.float32).mean().item()
        log.info("iter %d  reward(avg last 100)=%.3f  greedy_acc=%.3f  loss=%+.4f  (%.1fs)",
                 it, sum(rewards_hist[-100:]) / 100, acc, loss.item(), time.time() - t0)
