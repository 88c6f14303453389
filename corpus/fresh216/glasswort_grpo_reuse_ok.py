# GRPO on a toy "bird-call" writer: for each of 4 species the policy should emit
# the species' signature syllable at every one of 10 positions.
# Each rollout batch is reused for several inner PPO-style epochs (num_iterations).
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, CALL_LEN, DIM = 24, 10, 32
N_SPECIES, GROUP, PROMPTS = 4, 8, 4
NUM_ITERATIONS, CLIP_EPS = 8, 0.2
mx.random.seed(0)
rng = np.random.default_rng(0)


class CallWriter(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(CALL_LEN + 2, DIM)
        self.species = nn.Embedding(N_SPECIES, DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 64), nn.GELU(), nn.Linear(64, VOCAB))

    def __call__(self, tokens, species):
        L = tokens.shape[1]
        h = self.tok(tokens) + self.pos(mx.arange(L))[None] + self.species(species)[:, None]
        return self.mlp(h)


policy = CallWriter()
mx.eval(policy.parameters())


def sample_calls(species):
    n = species.shape[0]
    seq = np.full((n, 1), 1, dtype=np.int32)  # start syllable
    for _ in range(CALL_LEN):
        logits = policy(mx.array(seq), species)[:, -1]
        nxt = np.array(mx.random.categorical(logits)).astype(np.int32)
        seq = np.concatenate([seq, nxt[:, None]], 1)
    return seq


def score(seq, sp):
    signature = sp * 5 + 2
    return (seq[:, 1:] == signature[:, None]).mean(1)


def token_logps(model, rows, species):
    logits = model(rows[:, :-1], species)
    return mx.take_along_axis(nn.log_softmax(logits, -1), rows[:, 1:, None], -1).squeeze(-1)


def grpo_loss(model, rows, species, adv, old_lp):
    lp = token_logps(model, rows, species)
    ratio = mx.exp(lp - old_lp)
    a = adv[:, None]
    per_tok = -mx.minimum(ratio * a, mx.clip(ratio, 1 - CLIP_EPS, 1 + CLIP_EPS) * a)
    return per_tok.mean()


opt = optim.Adam(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(policy, grpo_loss)

t0 = time.time()
print(f"GRPO call-writer | groups={PROMPTS}x{GROUP} | inner epochs={NUM_ITERATIONS} | clip={CLIP_EPS}")
for rollout in range(1, 81):
    sp_np = np.repeat(rng.integers(0, N_SPECIES, size=PROMPTS), GROUP)
    sp = mx.array(sp_np)
    seq = sample_calls(sp)
    r = score(seq, sp_np).reshape(PROMPTS, GROUP)
    adv = ((r - r.mean(1, keepdims=True)) / (r.std(1, keepdims=True) + 1e-4)).reshape(-1)
    adv = mx.array(adv, dtype=mx.float32)
    rows = mx.array(seq)
    old_lp = mx.stop_gradient(token_logps(policy, rows, sp))
    for _ in range(NUM_ITERATIONS):
        loss, grads = loss_and_grad(policy, rows, sp, adv, old_lp)
        opt.update(policy, grads)
        mx.eval(policy.parameters(), opt.state, loss)
    if rollout % 5 == 0:
        logits = policy(rows[:, :-1], sp)
        ent = -(mx.softmax(logits, -1) * nn.log_softmax(logits, -1)).sum(-1).mean()
        print(f"[rollout {rollout:03d}] reward={r.mean():.3f}  entropy={ent.item():.3f}  surrogate={loss.item():+.4f}")
print(f"done in {time.time() - t0:.1f}s")
