# GRPO-style token policy with GTPO entropy weighting, compiled train step.
import json, time
from functools import partial
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
N_PROMPTS, T, K, G = 16, 8, 6, 8          # prompts, tokens per answer, vocab, group size
TARGET = mx.random.randint(0, K, (N_PROMPTS, T))   # the "correct" token for each slot


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(N_PROMPTS, 32)
        self.pos = nn.Embedding(T, 32)
        self.mlp = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, K))

    def __call__(self, prompt_ids):
        h = self.emb(prompt_ids)[:, None, :] + self.pos(mx.arange(T))[None]
        return self.mlp(h)                 # (B, T, K)


def apply_entropy_weighting(advantages, token_entropies, entropy_weight=0.5):
    # Normalize entropy: H_norm(t) = H(t) / mean(H)
    entropy_mean = mx.mean(token_entropies).item()
    if entropy_mean < 1e-7:
        return advantages
    entropy_normalized = token_entropies / (entropy_mean + 1e-8)
    raw_weights = 1.0 + entropy_weight * (entropy_normalized - 1.0)
    entropy_weights = mx.stop_gradient(mx.maximum(raw_weights, 0.0))
    return advantages * entropy_weights


def loss_fn(model, prompts, actions, adv):
    logits = model(prompts)                                   # (B, T, K)
    logp_all = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp = mx.take_along_axis(logp_all, actions[..., None], axis=-1).squeeze(-1)
    ent = -(mx.exp(logp_all) * logp_all).sum(-1)              # token entropies
    tok_adv = mx.broadcast_to(adv[:, None], logp.shape)
    w_adv = apply_entropy_weighting(tok_adv, ent)
    return -(w_adv * logp).mean()


model = Policy()
opt = optim.Adam(learning_rate=3e-3)
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(prompts, actions, adv):
    loss, grads = loss_and_grad(model, prompts, actions, adv)
    opt.update(model, grads)
    return loss


def rollout(batch_prompts):
    logits = model(batch_prompts)
    rep = mx.repeat(batch_prompts, G)                         # (B*G,)
    logits = mx.repeat(logits, G, axis=0)
    actions = mx.random.categorical(logits)                   # (B*G, T)
    reward = (actions == TARGET[rep]).astype(mx.float32).mean(-1)
    r = reward.reshape(-1, G)
    adv = ((r - r.mean(1, keepdims=True)) / (r.std(1, keepdims=True) + 1e-4)).reshape(-1)
    return rep, actions, adv, reward


t0 = time.time()
for step in range(1, 301):
    prompts = mx.random.randint(0, N_PROMPTS, (8,))
    rep, actions, adv, reward = rollout(prompts)
    loss = train_step(rep, actions, adv)
    mx.eval(loss, state)
    if step == 1 or step % 25 == 0:
        print(json.dumps({"step": step, "loss": round(loss.item(), 5),
                          "mean_reward": round(reward.mean().item(), 4),
                          "elapsed_s": round(time.time() - t0, 2)}), flush=True)
print(json.dumps({"done": True, "final_reward": round(reward.mean().item(), 4)}))
