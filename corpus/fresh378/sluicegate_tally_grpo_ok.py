"""GRPO fine-tune of a tiny issue-reporting policy with MLX.

The policy reads a graph summary (how many problems the annotator found) and
writes a short report made of <issue>..</issue> blocks and filler words.
Rewards: issue-count agreement with the reference report plus a format bonus.
"""
import math
import random
import re
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 7
random.seed(SEED)
mx.random.seed(SEED)

VOCAB = ["<eos>", "<issue>dup_entity</issue>", "<issue>missing_edge</issue>", "ok", "checked"]
EOS = 0
MAX_NEW = 6
GROUP = 8
BATCH = 2
ITERS = 300
LR = 1e-3
BETA = 0.02
EPS_LOW, EPS_HIGH = 0.2, 0.28


def make_reference(n_issues):
    kinds = ["dup_entity", "missing_edge"]
    body = "".join(f"<issue>{random.choice(kinds)}</issue>" for _ in range(n_issues))
    return f"<analysis>graph scan</analysis>{body}" if body else "<analysis>graph scan</analysis>clean"


# annotated graphs
DATA = []
for i in range(48):
    n = 0 if i % 6 == 5 else 1 + (i % 3)
    DATA.append({"prompt_id": n, "answer": make_reference(n)})
random.shuffle(DATA)


def reward_len(completions, answer: list, **kwargs):
    responses = [completion for completion in completions]
    scores = []
    for index, response in enumerate(responses):
        completion_issues = re.findall(
            r'<issue\s*[">]?\s*(.*?)\s*</issue>', response, re.DOTALL
        )
        reference_issues = re.findall(
            r'<issue\s*[">]?\s*(.*?)\s*</issue>', answer[index], re.DOTALL
        )

        if len(reference_issues) == 0:
            scores.append(len(completion_issues) == 0)
        else:
            scores.append(1-abs(1 - len(completion_issues)/len(reference_issues)))
    return scores


def format_reward(completions, answer: list, **kwargs):
    # a report must end cleanly and not be empty
    return [0.2 if len(c) > 0 and not c.endswith("checked") else 0.0 for c in completions]


REWARD_FUNCS = [reward_len, format_reward]


class ReportPolicy(nn.Module):
    def __init__(self, n_prompts=4, vocab=len(VOCAB), dim=32):
        super().__init__()
        self.prompt_emb = nn.Embedding(n_prompts, dim)
        self.tok_emb = nn.Embedding(vocab + 1, dim)  # +1 start token
        self.pos_emb = nn.Embedding(MAX_NEW, dim)
        self.count_emb = nn.Embedding(MAX_NEW + 1, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 64), nn.GELU(), nn.Linear(64, vocab))

    def __call__(self, prompt_ids, prev_tokens, positions, issue_counts):
        h = (
            self.prompt_emb(prompt_ids)
            + self.tok_emb(prev_tokens)
            + self.pos_emb(positions)
            + self.count_emb(issue_counts)
        )
        return self.mlp(h)


START = len(VOCAB)


def rollout(model, prompt_ids):
    """Sample one completion per row; returns token matrix and lengths."""
    B = prompt_ids.shape[0]
    prev = mx.full((B,), START, dtype=mx.int32)
    counts = mx.zeros((B,), dtype=mx.int32)
    done = [False] * B
    toks = [[] for _ in range(B)]
    for t in range(MAX_NEW):
        logits = model(prompt_ids, prev, mx.full((B,), t, dtype=mx.int32), counts)
        nxt = mx.random.categorical(logits)
        nxt_l = nxt.tolist()
        for b in range(B):
            if not done[b]:
                toks[b].append(nxt_l[b])
                if nxt_l[b] == EOS:
                    done[b] = True
        is_issue = ((nxt == 1) | (nxt == 2)).astype(mx.int32)
        counts = mx.minimum(counts + is_issue, MAX_NEW)
        prev = nxt
        if all(done):
            break
    return toks


def pack(toks):
    B = len(toks)
    L = max(len(t) for t in toks)
    tok = [[t[i] if i < len(t) else EOS for i in range(L)] for t in toks]
    mask = [[1.0 if i < len(t) else 0.0 for i in range(L)] for t in toks]
    return mx.array(tok, dtype=mx.int32), mx.array(mask)


def token_logps(model, prompt_ids, tok, mask):
    B, L = tok.shape
    prev = mx.concatenate([mx.full((B, 1), START, dtype=mx.int32), tok[:, :-1]], axis=1)
    is_issue = ((prev == 1) | (prev == 2)).astype(mx.int32)
    is_issue = mx.where(prev == START, 0, is_issue)
    counts = mx.minimum(mx.cumsum(is_issue, axis=1), MAX_NEW)
    pos = mx.broadcast_to(mx.arange(L)[None, :], (B, L))
    pids = mx.broadcast_to(prompt_ids[:, None], (B, L))
    logits = model(pids, prev, pos, counts)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return mx.take_along_axis(logp, tok[..., None], axis=-1).squeeze(-1)


def decode(t):
    return "".join(VOCAB[i] for i in t if i != EOS)


def grpo_loss(model, prompt_ids, tok, mask, advantages, old_logps, ref_logps):
    logps = token_logps(model, prompt_ids, tok, mask)
    ratio = mx.exp(logps - old_logps)
    clipped = mx.clip(ratio, 1 - EPS_LOW, 1 + EPS_HIGH)
    adv = advantages[:, None]
    per_tok = -mx.minimum(ratio * adv, clipped * adv)
    kl = mx.exp(ref_logps - logps) - (ref_logps - logps) - 1
    per_tok = per_tok + BETA * kl
    return ((per_tok * mask).sum(axis=1) / mask.sum(axis=1)).mean()


def main():
    model = ReportPolicy()
    ref_model = ReportPolicy()
    ref_model.update(model.parameters())
    ref_model.freeze()
    mx.eval(model.parameters(), ref_model.parameters())
    opt = optim.Adam(learning_rate=LR)
    loss_and_grad = nn.value_and_grad(model, grpo_loss)

    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"Trainable parameters: {n_params}")
    print(f"Starting GRPO training..., iters: {ITERS}, group size {GROUP}")
    t0 = time.perf_counter()
    cursor = 0
    for it in range(1, ITERS + 1):
        batch = [DATA[(cursor + k) % len(DATA)] for k in range(BATCH)]
        cursor += BATCH
        prompt_ids = mx.array([b["prompt_id"] for b in batch for _ in range(GROUP)], dtype=mx.int32)
        answers = [b["answer"] for b in batch for _ in range(GROUP)]

        toks = rollout(model, prompt_ids)
        texts = [decode(t) for t in toks]
        tok, mask = pack(toks)

        total = mx.zeros((len(texts),))
        metrics = {}
        for fn in REWARD_FUNCS:
            raw = fn(prompts=None, completions=texts, answer=answers)
            r = mx.array([float(x) if x is not None else float("nan") for x in raw])
            metrics[fn.__name__] = r.mean().item()
            total = total + r
        grouped = total.reshape(BATCH, GROUP)
        mean = grouped.mean(axis=1, keepdims=True)
        std = mx.sqrt(((grouped - mean) ** 2).mean(axis=1, keepdims=True))
        advantages = ((grouped - mean) / (std + 1e-4)).reshape(-1)

        old_logps = mx.stop_gradient(token_logps(model, prompt_ids, tok, mask))
        ref_logps = mx.stop_gradient(token_logps(ref_model, prompt_ids, tok, mask))
        loss, grads = loss_and_grad(model, prompt_ids, tok, mask, advantages, old_logps, ref_logps)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)

        if it % 25 == 0 or it == 1:
            print(
                f"Iter {it}: Train loss {loss.item():.4f}, Total rewards mean {total.mean().item():.3f}, "
                f"reward_len mean {metrics['reward_len']:.3f}, format_reward mean {metrics['format_reward']:.3f}, "
                f"Grouped rewards std {std.mean().item():.3f}, It/sec {it / (time.perf_counter() - t0):.2f}",
                flush=True,
            )

    # held-out check: greedy-ish sampling over every prompt kind
    scores = []
    for n in range(4):
        pids = mx.full((32,), n, dtype=mx.int32)
        texts = [decode(t) for t in rollout(model, pids)]
        scores.append(sum(float(x) for x in reward_len(texts, [make_reference(n)] * 32)) / 32)
    print("Eval reward_len by reference issue count:", {n: round(s, 3) for n, s in enumerate(scores)})
    print(f"Eval mean reward_len {sum(scores) / 4:.3f}")


if __name__ == "__main__":
    main()
