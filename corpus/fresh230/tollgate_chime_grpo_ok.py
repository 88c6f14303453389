# GRPO on a toy "chime" language: the first token of each prompt names a bell,
# the policy should answer with that bell's chime token as often as possible.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
V = 8          # vocab: 0..3 bells, 4..7 chimes
PROMPT_LEN = 2
GEN_LEN = 6
GROUP = 8
N_PROMPTS = 4


class ChimeLM(nn.Module):
    def __init__(self, vocab, dim=32):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.mix = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, vocab)

    def __call__(self, x):
        e = self.embed(x)
        steps = mx.arange(1, x.shape[1] + 1).reshape(1, -1, 1)
        h = mx.cumsum(e, axis=1) / steps          # causal running mean
        h = nn.gelu(self.mix(h)) + h
        return self.head(h)


def get_per_token_logps(model, inputs, lengths):
    logits = model(inputs).astype(mx.float16)
    logits = logits[:, :-1, :]
    targets = inputs[:, 1:]
    per_token_logps = []
    for i in range(logits.shape[0]):
        seq_len = int(lengths[i]) - 1
        seq_logits = logits[i, :seq_len]
        seq_targets = targets[i, :seq_len]
        log_probs = nn.log_softmax(seq_logits, axis=-1)
        token_log_probs = mx.take_along_axis(
            log_probs,
            seq_targets.reshape(seq_len, 1),
            axis=-1
        ).squeeze(-1)
        per_token_logps.append(token_log_probs)
        mx.eval(logits)
    return per_token_logps


def sample(model, prompts):
    seq = prompts
    for _ in range(GEN_LEN):
        logits = model(seq)[:, -1, :]
        nxt = mx.random.categorical(logits)
        seq = mx.concatenate([seq, nxt[:, None]], axis=1)
    mx.eval(seq)
    return seq


def reward_fn(seq):
    bell = seq[:, 0]
    chime = bell + 4
    gen = seq[:, PROMPT_LEN:]
    return (gen == chime[:, None]).astype(mx.float32).mean(axis=1)


def grpo_loss(model, ref_model, seqs, lengths, advantages, old_logps, beta=0.04, eps=0.2):
    new = get_per_token_logps(model, seqs, lengths)
    ref = get_per_token_logps(ref_model, seqs, lengths)
    total = 0.0
    for i in range(len(new)):
        lp = new[i][PROMPT_LEN - 1:].astype(mx.float32)
        olp = old_logps[i][PROMPT_LEN - 1:].astype(mx.float32)
        rlp = ref[i][PROMPT_LEN - 1:].astype(mx.float32)
        ratio = mx.exp(lp - olp)
        clipped = mx.clip(ratio, 1 - eps, 1 + eps)
        pg = mx.minimum(ratio * advantages[i], clipped * advantages[i])
        kl = mx.exp(rlp - lp) - (rlp - lp) - 1
        total = total + (-(pg - beta * kl)).mean()
    return total / len(new)


model = ChimeLM(V)
ref_model = ChimeLM(V)
ref_model.update(model.parameters())
ref_model.freeze()
mx.eval(model.parameters(), ref_model.parameters())
opt = optim.Adam(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(model, grpo_loss)

t0 = time.time()
for it in range(1, 61):
    bells = mx.random.randint(0, 4, (N_PROMPTS,))
    filler = mx.random.randint(0, 4, (N_PROMPTS,))
    prompts = mx.stack([bells, filler], axis=1)
    prompts = mx.repeat(prompts, GROUP, axis=0)
    seqs = sample(model, prompts)
    rewards = reward_fn(seqs)
    r = rewards.reshape(N_PROMPTS, GROUP)
    adv = (r - r.mean(axis=1, keepdims=True)) / (r.std(axis=1, keepdims=True) + 1e-4)
    adv = adv.reshape(-1)
    lengths = [seqs.shape[1]] * seqs.shape[0]
    old = [mx.stop_gradient(x) for x in get_per_token_logps(model, seqs, lengths)]
    mx.eval(old, adv)
    for _ in range(2):
        loss, grads = loss_and_grad(model, ref_model, seqs, lengths, adv, old)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
    if it % 5 == 0:
        print(f"Iter {it}: loss {loss.item():.4f}, mean reward {rewards.mean().item():.3f}, "
              f"reward std {rewards.std().item():.3f}, {time.time() - t0:.1f}s")
print("done")
