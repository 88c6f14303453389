# Tiny GRPO on a toy "say the right token" task, loss/advantage code modelled
# on the mlx_lm GRPO trainer.  Policy: prompt id -> per-position logits.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, N_PROMPTS, MAX_LEN = 16, 6, 12
BATCH, GROUP, ITERS, BETA, EPS = 4, 8, 240, 0.04, 1e-4
rng = np.random.default_rng(0)
mx.random.seed(0)
TARGET = np.array([(3 * p + 5) % VOCAB for p in range(N_PROMPTS)])


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.prompt_emb = nn.Embedding(N_PROMPTS, 32)
        self.pos_emb = nn.Embedding(MAX_LEN, 32)
        self.hidden = nn.Linear(32, 64)
        self.head = nn.Linear(64, VOCAB)

    def __call__(self, prompts):
        h = self.prompt_emb(prompts)[:, None, :] + self.pos_emb(mx.arange(MAX_LEN))[None]
        return self.head(nn.gelu(self.hidden(h)))


def token_logps(model, prompts, tokens):
    logp = nn.log_softmax(model(prompts), axis=-1)
    return mx.take_along_axis(logp, tokens[..., None], axis=-1).squeeze(-1)


policy = Policy()
ref = Policy()
ref.update(policy.parameters())
mx.eval(policy.parameters(), ref.parameters())
opt = optim.SGD(learning_rate=2.0)


def grpo_loss(model, prompts, tokens, length_mask, advantages, ref_lp):
    lp = token_logps(model, prompts, tokens)
    kl = mx.exp(ref_lp - lp) - (ref_lp - lp) - 1
    ratio = mx.exp(lp - mx.stop_gradient(lp))
    per_token_loss = -((ratio * advantages[:, None] - BETA * kl) * length_mask)
    # Average over tokens
    sequence_sums = per_token_loss.sum(axis=1)
    sequence_lengths = length_mask.sum(axis=1)
    loss = (sequence_sums / sequence_lengths).mean()
    return loss


loss_and_grad = nn.value_and_grad(policy, grpo_loss)
t0 = time.time()
for it in range(1, ITERS + 1):
    p = rng.integers(0, N_PROMPTS, BATCH).repeat(GROUP)
    prompts = mx.array(p)
    probs = np.array(mx.softmax(policy(prompts), axis=-1))
    toks = np.array([[rng.choice(VOCAB, p=probs[i, t] / probs[i, t].sum()) for t in range(MAX_LEN)]
                     for i in range(len(p))])
    lens = rng.integers(6, MAX_LEN + 1, len(p))
    mask_np = (np.arange(MAX_LEN)[None] < lens[:, None]).astype(np.float32)
    rewards = ((toks == TARGET[p][:, None]) * mask_np).sum(1) / lens
    r = rewards.reshape(BATCH, GROUP)
    adv = ((r - r.mean(1, keepdims=True)) / (r.std(1, keepdims=True) + EPS)).reshape(-1)
    tokens = mx.array(toks)
    ref_lp = mx.stop_gradient(token_logps(ref, prompts, tokens))
    loss, grads = loss_and_grad(policy, prompts, tokens, mx.array(mask_np),
                                mx.array(adv, dtype=mx.float32), ref_lp)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss)
    if it % 20 == 0 or it == 1:
        ent = float(-(mx.softmax(policy(prompts), -1) * nn.log_softmax(policy(prompts), -1)).sum(-1).mean())
        print(f"Iter {it}: Train loss {loss.item():.4f}, Rewards mean {rewards.mean():.3f}, "
              f"Rewards std {rewards.std():.3f}, Entropy {ent:.3f}")

# greedy evaluation
greedy = np.array(mx.argmax(policy(mx.arange(N_PROMPTS)), axis=-1))
acc = (greedy == TARGET[:, None]).mean()
print(f"Greedy accuracy over prompts: {acc:.3f}  ({time.time() - t0:.1f}s)")
