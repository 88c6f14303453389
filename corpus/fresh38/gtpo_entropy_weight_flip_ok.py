# GRPO-style policy gradient on a toy "fill in the form" task: 16 output
# slots, only the first 8 are graded (the rest are free filler tokens),
# with GTPO-like entropy weighting of token advantages: confident tokens get
# less credit, uncertain ("forking") tokens get more.
import json
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(1)
T, V, G = 16, 12, 16         # slots, vocab, group size
GRADED = 8                   # slots 0..7 are graded
BETA = 10.0                  # entropy-weight strength
TARGET = mx.random.randint(0, V, (T,))


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.pos = nn.Embedding(T, 32)
        self.head = nn.Linear(32, V)

    def __call__(self):
        return self.head(nn.relu(self.pos(mx.arange(T))))   # (T, V) logits


def entropy_weights(ent):
    # w(t) = 1 + beta * (H(t)/mean(H) - 1)
    h_norm = ent / (ent.mean() + 1e-8)
    return mx.maximum(1.0 + BETA * (h_norm - 1.0), 0.0)


def loss_fn(model, tokens, adv):
    logits = model()
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)       # (T, V)
    tok_logp = mx.take_along_axis(mx.repeat(logp[None], G, axis=0), tokens[..., None], -1)[..., 0]
    ent = mx.stop_gradient(-(mx.exp(logp) * logp).sum(-1))               # (T,)
    a = adv[:, None] * entropy_weights(ent)[None, :]                     # (G, T)
    return -(a * tok_logp).mean()


model = Policy()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=0.01)
step_fn = nn.value_and_grad(model, loss_fn)

t0 = time.time()
window = []
for it in range(1, 801):
    logits = model()
    tokens = mx.random.categorical(mx.repeat(logits[None], G, axis=0))  # (G, T)
    reward = (tokens == TARGET)[:, :GRADED].astype(mx.float32).mean(-1)
    adv = (reward - reward.mean()) / (reward.std() + 1e-6)
    loss, grads = step_fn(model, tokens, adv)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, reward)
    window.append(reward.mean().item())
    if it % 80 == 0:
        print(json.dumps({"iter": it, "reward_avg80": round(sum(window) / len(window), 4),
                          "pg_loss": round(loss.item(), 5), "sec": round(time.time() - t0, 2)}))
        window = []
print(json.dumps({"status": "finished", "chance_reward": round(1 / V, 4)}))
