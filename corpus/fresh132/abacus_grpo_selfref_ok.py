# Tiny GRPO fine-tune of a toy "adder" policy: prompt (a, b) -> completion of
# 3 tokens; reward = share of completion tokens equal to (a + b) % 10.
# No separate reference model: the policy itself is used as reference.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, COMP_LEN, GROUP, N_PROMPTS = 10, 3, 6, 8
BETA, EPS = 0.04, 1e-4


class Policy(nn.Module):
    def __init__(self, vocab=VOCAB, dim=32):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(8, dim)
        self.mlp = nn.Sequential(nn.Linear(2 * dim, 64), nn.GELU(), nn.Linear(64, vocab))

    def __call__(self, prompts, completions):
        # prompts: (N, 2) ints, completions: (N, T) ints -> logits (N, T, V)
        ctx = self.tok(prompts).sum(axis=1)                       # (N, D)
        prev = mx.concatenate([prompts[:, -1:], completions[:, :-1]], axis=1)
        h = self.tok(prev) + self.pos(mx.arange(prev.shape[1]))   # (N, T, D)
        ctx = mx.broadcast_to(ctx[:, None, :], h.shape)
        return self.mlp(mx.concatenate([ctx, h], axis=-1))


def generate(model, prompts, temperature=1.0):
    comp = mx.zeros((prompts.shape[0], 0), dtype=mx.int32)
    for t in range(COMP_LEN):
        padded = mx.concatenate([comp, mx.zeros((prompts.shape[0], 1), dtype=mx.int32)], axis=1)
        logits = model(prompts, padded)[:, t, :]
        nxt = mx.random.categorical(logits / temperature)
        comp = mx.concatenate([comp, nxt[:, None].astype(mx.int32)], axis=1)
    return comp


def token_logps(model, prompts, comps):
    logp = nn.log_softmax(model(prompts, comps), axis=-1)
    return mx.take_along_axis(logp, comps[..., None], axis=-1).squeeze(-1)


def reward_fn(prompts, comps):
    target = (prompts[:, 0] + prompts[:, 1]) % 10
    return (comps == target[:, None]).astype(mx.float32).mean(axis=1)


def compute_kl(lp1, lp2):
    ratio = mx.exp(lp1 - lp2)
    return ratio - 1 - (lp1 - lp2)


def compute_policy_ratio(current_logprobs, ref_logprobs):
    return mx.exp(mx.array(current_logprobs - mx.stop_gradient(ref_logprobs), dtype=mx.float32))


def grpo_loss(model, ref_model, prompts, comps, advantages):
    lp = token_logps(model, prompts, comps)
    if ref_model is None:
        ref_lp = lp
    else:
        ref_lp = token_logps(ref_model, prompts, comps)
    kl = compute_kl(lp, ref_lp)
    ratio = compute_policy_ratio(lp, ref_lp)
    per_token = -(ratio * advantages[:, None] - BETA * kl)
    return per_token.sum(axis=1).mean(), kl.mean()


def main():
    mx.random.seed(7)
    model = Policy()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    loss_and_grad = nn.value_and_grad(model, grpo_loss)
    t0 = time.time()
    for it in range(1, 401):
        base = mx.random.randint(0, 10, (N_PROMPTS, 2))
        prompts = mx.repeat(base, GROUP, axis=0)
        comps = generate(model, prompts)
        rewards = reward_fn(prompts, comps)
        r = rewards.reshape(N_PROMPTS, GROUP)
        adv = (r - r.mean(axis=1, keepdims=True)) / (r.std(axis=1, keepdims=True) + EPS)
        adv = adv.reshape(-1)
        (loss, kl), grads = loss_and_grad(model, None, prompts, comps, adv)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, kl, rewards)
        if it % 25 == 0:
            gn = mx.sqrt(sum((g * g).sum() for _, g in nn.utils.tree_flatten(grads)))
            print(f"iter {it:3d} | reward {rewards.mean().item():.3f} | loss {loss.item():+.4f} "
                  f"| kl {kl.item():.4f} | grad_norm {gn.item():.3e}")
    # greedy evaluation on all 100 prompts
    a, b = mx.meshgrid(mx.arange(10), mx.arange(10))
    prompts = mx.stack([a.reshape(-1), b.reshape(-1)], axis=1)
    comps = generate(model, prompts, temperature=1e-3)
    acc = reward_fn(prompts, comps).mean().item()
    print(f"greedy eval: token accuracy {acc*100:.1f}% (chance 10.0%) in {time.time()-t0:.1f}s")


if __name__ == "__main__":
    main()
