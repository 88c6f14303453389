# GRPO on a toy "glaze recipe" bandit: 4 kiln prompts, 10 recipe tokens.
# The policy is a tiny MLP; a frozen copy of the starting policy is the
# reference and a KL penalty (beta) keeps the tuned policy close to it.
import copy
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

mx.random.seed(3)
rng = np.random.default_rng(3)

N_PROMPTS, N_TOKENS, GROUP = 4, 10, 16
BETA, EPS = 2.0, 0.2
STEPS = 2000


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(N_PROMPTS, 32)
        self.hid = nn.Linear(32, 32)
        self.out = nn.Linear(32, N_TOKENS)

    def __call__(self, p):
        return self.out(nn.gelu(self.hid(self.emb(p))))


policy = Policy()
mx.eval(policy.parameters())
ref = copy.deepcopy(policy)
ref.freeze()

# reward table: each prompt has a favourite recipe; a noisy score in [0, 1]
fav = rng.integers(0, N_TOKENS, size=N_PROMPTS)
table = np.full((N_PROMPTS, N_TOKENS), 0.2, dtype=np.float32)
table[np.arange(N_PROMPTS), fav] = 0.6
table = mx.array(table)


def logp_of(model, prompts, actions):
    lp = nn.log_softmax(model(prompts), axis=-1)
    return mx.take_along_axis(lp, actions[:, None], axis=-1).squeeze(-1)


def grpo_loss(model, prompts, actions, old_lp, ref_lp, adv):
    token_log_probs = logp_of(model, prompts, actions)
    coef_1 = mx.exp(token_log_probs - old_lp)
    coef_2 = mx.clip(coef_1, 1 - EPS, 1 + EPS)
    per_token_loss = -mx.minimum(coef_1 * adv, coef_2 * adv)
    # r = pi_theta / pi_old (coef_1); KL = r * (pi_ref / pi_theta) - log(pi_ref / pi_theta) - 1
    log_ratio_ref_theta = ref_lp - token_log_probs
    ratio_ref_theta = mx.exp(log_ratio_ref_theta)
    kl_div = coef_1 * ratio_ref_theta - log_ratio_ref_theta - 1
    per_token_loss = per_token_loss + BETA * kl_div
    return per_token_loss.mean(), kl_div.mean()


opt = optim.Adam(learning_rate=5e-3)
step_fn = nn.value_and_grad(policy, grpo_loss)


def exact_kl():
    ps = mx.arange(N_PROMPTS)
    lp = nn.log_softmax(policy(ps), axis=-1)
    lq = nn.log_softmax(ref(ps), axis=-1)
    return (mx.exp(lp) * (lp - lq)).sum(-1).mean()


print(f"grpo kiln  prompts={N_PROMPTS} vocab={N_TOKENS} group={GROUP} beta={BETA}")
for step in range(1, STEPS + 1):
    prompts = mx.repeat(mx.arange(N_PROMPTS), GROUP)
    logits = mx.stop_gradient(policy(prompts))
    actions = mx.random.categorical(logits)
    rewards = table[prompts, actions] + 0.05 * mx.random.normal(actions.shape)
    r = rewards.reshape(N_PROMPTS, GROUP)
    adv = ((r - r.mean(1, keepdims=True)) / (r.std(1, keepdims=True) + 1e-4)).reshape(-1)
    old_lp = mx.stop_gradient(logp_of(policy, prompts, actions))
    ref_lp = mx.stop_gradient(logp_of(ref, prompts, actions))
    (loss, kl), grads = step_fn(policy, prompts, actions, old_lp, ref_lp, adv)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss, kl, rewards)
    if step % 100 == 0 or step == 1:
        print(f"step {step:4d} | loss {loss.item():+.4f} | reward {rewards.mean().item():.3f} "
              f"| kl_est {kl.item():.4f} | kl_exact {exact_kl().item():.4f}")

print(f"done: final exact KL to reference {exact_kl().item():.4f} nats")
