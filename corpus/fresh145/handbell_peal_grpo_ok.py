# GRPO on a toy "call the change" task: for a called bell (0..7) the team must
# ring the next 4 bells in rounds order (bell+1, bell+2, ... mod 8).
# Policy: small MLP over (called bell, place) -> 8 bell logits.
import copy
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

NBELLS = 8
PLACES = 4
batch_size = 8          # called bells per step
generations = 32        # rollouts per call
gradient_accumulation_steps = 4
beta = 0.01
epsilon = 1e-6
steps = 200

mx.random.seed(3)


class RingingPolicy(nn.Module):
    def __init__(self):
        super().__init__()
        self.call_emb = nn.Embedding(NBELLS, 32)
        self.place_emb = nn.Embedding(PLACES, 32)
        self.mlp = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, NBELLS))

    def __call__(self, calls):
        # calls: (N,) -> logits (N, PLACES, NBELLS)
        h = self.call_emb(calls)[:, None, :] + self.place_emb(mx.arange(PLACES))[None]
        return self.mlp(h)


def seq_logprobs(model, calls, tokens):
    logits = model(calls)
    lp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return mx.take_along_axis(lp, tokens[..., None], axis=-1).squeeze(-1)


def grpo_loss(model, calls, tokens, advantages, ref_log_probs, accum):
    lp = seq_logprobs(model, calls, tokens)
    ratio = mx.exp(lp - mx.stop_gradient(lp))
    kl = mx.exp(ref_log_probs - lp) - (ref_log_probs - lp) - 1
    per_token = ratio * advantages[:, None] - beta * kl
    loss = -mx.mean(per_token)
    return loss / accum


def create_generations(model, ref_model, calls):
    calls = mx.repeat(calls, generations, axis=0)
    logits = model(calls)
    tokens = mx.random.categorical(logits)
    target = (calls[:, None] + 1 + mx.arange(PLACES)[None]) % NBELLS
    rewards = mx.mean((tokens == target).astype(mx.float32), axis=1)
    r = rewards.reshape(-1, generations)
    adv = (r - r.mean(axis=1, keepdims=True)) / (r.std(axis=1, keepdims=True) + epsilon)
    ref_lp = seq_logprobs(ref_model, calls, tokens)
    out = {"calls": calls, "tokens": tokens, "advantages": adv.reshape(-1),
           "ref_log_probs": mx.stop_gradient(ref_lp)}
    mx.eval(out)
    return out, rewards.mean()


def train():
    model = RingingPolicy()
    mx.eval(model.parameters())
    ref_model = copy.deepcopy(model)
    ref_model.freeze()
    optimizer = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
    value_and_grad_fn = nn.value_and_grad(model, grpo_loss)

    for step in range(steps):
        calls = mx.random.randint(0, NBELLS, (batch_size,))
        gens, avg_reward = create_generations(model, ref_model, calls)
        print("Average Reward: ", round(avg_reward.item(), 4))

        total_loss = 0.0
        accumulated_grads = None
        n = generations * batch_size
        indices = mx.random.permutation(n).reshape(gradient_accumulation_steps, -1)
        for j in range(gradient_accumulation_steps):
            idx = indices[j]
            loss, grads = value_and_grad_fn(
                model, gens["calls"][idx], gens["tokens"][idx],
                gens["advantages"][idx], gens["ref_log_probs"][idx],
                gradient_accumulation_steps,
            )
            total_loss += loss.item()
            if accumulated_grads is None:
                accumulated_grads = grads
            else:
                accumulated_grads = tree_map(lambda a, b: a + b, accumulated_grads, grads)
            mx.eval(accumulated_grads)
        print("loss: ", round(total_loss, 5))
        grads, _ = optim.clip_grad_norm(accumulated_grads, max_norm=1.0)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)

    # final greedy check
    calls = mx.arange(NBELLS)
    pred = mx.argmax(model(calls), axis=-1)
    target = (calls[:, None] + 1 + mx.arange(PLACES)[None]) % NBELLS
    print("greedy accuracy:", mx.mean((pred == target).astype(mx.float32)).item())


train()
