# Toy GRPO: teach a tiny autoregressive policy to continue a prompt token
# with an arithmetic "password" pattern. Group-relative advantages, PPO-style clipping and an
# optional KL penalty towards a frozen reference policy.
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

VOCAB = 10
SEQ = 6
N_PROMPTS = 8
GROUP = 16
STEPS = 300
BETA = 0.04          # KL penalty weight
EPS = 0.2


class TinyPolicy(nn.Module):
    def __init__(self, dim=64):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dim)
        self.pos = nn.Embedding(SEQ, dim)
        self.hidden = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, VOCAB)

    def __call__(self, prev_tokens):
        # prev_tokens: (B, SEQ) previous token at every position (prompt first)
        h = self.tok(prev_tokens) + self.pos(mx.arange(SEQ))[None]
        return self.out(nn.gelu(self.hidden(h)))


def sample(policy, prompts):
    n = prompts.shape[0]
    prev = prompts[:, None]
    toks = []
    for t in range(SEQ):
        inp = mx.concatenate([prev, mx.zeros((n, SEQ - prev.shape[1]), mx.int32)], axis=1)
        logits = policy(inp)[:, t, :]
        nxt = mx.random.categorical(logits).astype(mx.int32)
        toks.append(nxt)
        prev = mx.concatenate([prev, nxt[:, None]], axis=1)
    return mx.stack(toks, axis=1), prev[:, :SEQ]


def token_logps(policy, prev, toks):
    logits = policy(prev)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return mx.take_along_axis(logp, toks[..., None], axis=-1).squeeze(-1)


def target_of(prompts):
    return (prompts[:, None] + 3 * mx.arange(SEQ)[None] + 1) % VOCAB


def rewards_of(toks, prompts):
    # fraction of the password typed correctly before the first mistake
    target = target_of(prompts)
    prefix_ok = mx.cumprod((toks == target).astype(mx.float32), axis=1)
    return prefix_ok.mean(axis=1)


def grpo_loss(policy, prev, toks, old_logps, ref_logps, advantages, beta):
    token_log_probs = token_logps(policy, prev, toks)
    log_ratio = token_log_probs - mx.stop_gradient(old_logps)
    coef_1 = mx.exp(log_ratio)

    # PPO-like clipping
    coef_2 = mx.clip(coef_1, 1 - EPS, 1 + EPS)
    unclipped_obj = coef_1 * advantages.reshape(-1, 1)
    clipped_obj = coef_2 * advantages.reshape(-1, 1)
    per_token_loss = -mx.minimum(unclipped_obj, clipped_obj)

    # Add KL penalty if beta is non-zero
    if beta != 0.0:
        # unbiased KL estimator towards the frozen reference policy
        log_ratio_ref = ref_logps - token_log_probs
        kl_div = mx.exp(log_ratio_ref) - log_ratio_ref - 1
        per_token_loss = per_token_loss + beta * kl_div
    else:
        # only tracked as a metric
        kl_div = mx.exp(ref_logps - token_log_probs) - (ref_logps - token_log_probs) - 1

    loss = per_token_loss.mean()
    return loss, kl_div.mean()


def main():
    mx.random.seed(7)
    policy = TinyPolicy()
    reference = TinyPolicy()
    reference.update(tree_map(lambda p: p, policy.parameters()))
    reference.freeze()
    mx.eval(policy.parameters(), reference.parameters())

    opt = optim.Adam(learning_rate=2e-3)
    loss_and_grad = nn.value_and_grad(policy, grpo_loss)
    t0 = time.time()
    for step in range(1, STEPS + 1):
        prompts = mx.repeat(mx.random.randint(0, VOCAB, (N_PROMPTS,)), GROUP).astype(mx.int32)
        toks, prev = sample(policy, prompts)
        old = mx.stop_gradient(token_logps(policy, prev, toks))
        ref = mx.stop_gradient(token_logps(reference, prev, toks))
        r = rewards_of(toks, prompts).reshape(N_PROMPTS, GROUP)
        adv = (r - r.mean(axis=1, keepdims=True)) / (r.std(axis=1, keepdims=True) + 1e-4)
        (loss, kl), grads = loss_and_grad(policy, prev, toks, old, ref, adv.reshape(-1), BETA)
        opt.update(policy, grads)
        mx.eval(policy.parameters(), opt.state, loss, kl)
        if step % 50 == 0 or step == 1:
            print(json.dumps({
                "step": step,
                "loss": round(loss.item(), 5),
                "reward": round(r.mean().item(), 4),
                "kl": round(kl.item(), 5),
                "sec": round(time.time() - t0, 1),
            }))

    prompts = mx.arange(VOCAB).astype(mx.int32)
    prev = prompts[:, None]
    for t in range(SEQ):
        inp = mx.concatenate([prev, mx.zeros((VOCAB, SEQ - prev.shape[1]), mx.int32)], axis=1)
        nxt = mx.argmax(policy(inp)[:, t, :], axis=-1).astype(mx.int32)
        prev = mx.concatenate([prev, nxt[:, None]], axis=1)
    exact = (prev[:, 1:] == target_of(prompts)).all(axis=1).mean().item()
    print(json.dumps({"greedy_exact_match": round(exact, 3), "prompts": VOCAB}))


if __name__ == "__main__":
    main()
