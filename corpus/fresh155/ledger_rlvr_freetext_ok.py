# GRPO (RLVR) on a tiny "policy LM": the model answers "a * b mod 10" questions in
# free text ("... Answer: 7"), and a verifier scores each sampled completion.
# Group of G completions per prompt, group-normalised advantages, PPO-style clipped
# surrogate, a few policy epochs per batch of rollouts.
import json
import re
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)

VOCAB = "0123456789"
G = 16           # completions per prompt
PROMPTS = 64     # prompts per rollout batch
ITERS = 150
CLIP = 0.2
EPOCHS = 2


def extract_json_object(text):
    """Return the trailing {...} object in a completion, or None."""
    end = text.rfind("}")
    while end != -1:
        start = text.rfind("{", 0, end)
        while start != -1:
            try:
                return json.loads(text[start:end + 1])
            except ValueError:
                start = text.rfind("{", 0, start)
        end = text.rfind("}", 0, end)
    return None


class ModTimesTask:
    """Free-text agent task: the answer is the last digit of a*b."""

    def evaluate_output(self, output, state):
        m = re.search(r"Answer:\s*(\d)", output)
        return 1.0 if (m and int(m.group(1)) == state["gold"]) else 0.0


def score_completions(task, completions, states):
    scores = []
    for text, state in zip(completions, states):
        try:
            strategy = extract_json_object(text)
            output = json.dumps(strategy) if isinstance(strategy, dict) else text
            scores.append(float(task.evaluate_output(output, state)))
        except Exception:
            scores.append(0.0)
    return scores


class TinyPolicy(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.tok = nn.Embedding(10, dim)
        self.pos = nn.Embedding(2, dim)
        self.mlp = nn.Sequential(nn.Linear(2 * dim, 64), nn.GELU(), nn.Linear(64, len(VOCAB)))

    def __call__(self, ab):
        h = self.tok(ab) + self.pos(mx.arange(2))
        return self.mlp(h.reshape(h.shape[0], -1))


def logprobs(model, ab, actions):
    lp = nn.log_softmax(model(ab), axis=-1)
    return mx.take_along_axis(lp, actions[:, None], axis=-1).squeeze(-1)


def grpo_loss(model, ab, actions, old_lp, adv):
    ratio = mx.exp(logprobs(model, ab, actions) - old_lp)
    surr = mx.minimum(ratio * adv, mx.clip(ratio, 1 - CLIP, 1 + CLIP) * adv)
    return -surr.mean()


model = TinyPolicy()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
step_fn = nn.value_and_grad(model, grpo_loss)
task = ModTimesTask()

eval_ab = mx.array([[a, b] for a in range(10) for b in range(10)], dtype=mx.int32)
eval_gold = (eval_ab[:, 0] * eval_ab[:, 1]) % 10

t0 = time.time()
print(f"{'iter':>4} | {'reward':>6} | {'r_std':>5} | {'greedy_acc':>10} | {'loss':>8} | {'sec':>5}")
for it in range(1, ITERS + 1):
    ab = mx.random.randint(0, 10, (PROMPTS, 2)).astype(mx.int32)
    ab = mx.repeat(ab, G, axis=0)
    logits = model(ab)
    actions = mx.random.categorical(logits)
    old_lp = mx.stop_gradient(logprobs(model, ab, actions))
    mx.eval(actions, old_lp)
    pairs = ab.tolist()
    digits = actions.tolist()
    completions = [f"Let me work it out: {a} times {b}, keep the last digit. Answer: {d}"
                   for (a, b), d in zip(pairs, digits)]
    states = [{"gold": (a * b) % 10} for a, b in pairs]
    rewards = mx.array(score_completions(task, completions, states)).reshape(PROMPTS, G)
    adv = (rewards - rewards.mean(axis=1, keepdims=True)) / (rewards.std(axis=1, keepdims=True) + 1e-4)
    adv = adv.reshape(-1)
    for _ in range(EPOCHS):
        loss, grads = step_fn(model, ab, actions, old_lp, adv)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
    if it % 15 == 0 or it == 1:
        acc = (mx.argmax(model(eval_ab), axis=-1) == eval_gold).mean().item()
        print(f"{it:>4} | {rewards.mean().item():6.3f} | {rewards.std().item():5.3f} | "
              f"{acc:10.2%} | {loss.item():8.4f} | {time.time() - t0:5.1f}")

acc = (mx.argmax(model(eval_ab), axis=-1) == eval_gold).mean().item()
print(f"done: greedy accuracy on all 100 questions = {acc:.2%} (chance 10%)")
