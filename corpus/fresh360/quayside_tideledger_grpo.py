"""Harbour-master's tide ledger: a tiny causal transformer learns to write the
last digit of the sum of two tide-gauge readings ("a+b=" -> "<digit>;").

Stage 1: short supervised warm start on 40% of the reading pairs.
Stage 2: GRPO with a verifier reward (exact sum + a small format reward for a
clean ";"-terminated digit answer), group-normalised advantages, a k3 KL term
to the frozen stage-1 policy, learning-rate warmup from exactly 0, dynamic
sampling (groups whose rewards are all equal carry no signal and are skipped),
and a checkpoint / resume halfway through stage 2.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

VOCAB = list("0123456789+=;") + ["<pad>"]
TOK = {c: i for i, c in enumerate(VOCAB)}
PAD, EOS = TOK["<pad>"], TOK[";"]
PROMPT_LEN, MAX_NEW = 4, 2
SEQ = PROMPT_LEN + MAX_NEW


class LedgerLM(nn.Module):
    def __init__(self, dims=48, heads=4, layers=1):
        super().__init__()
        self.tok = nn.Embedding(len(VOCAB), dims)
        self.pos = nn.Embedding(SEQ, dims)
        self.body = nn.TransformerEncoder(layers, dims, heads, mlp_dims=2 * dims)
        self.head = nn.Linear(dims, len(VOCAB))

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        return self.head(self.body(h, mask))


def encode_prompt(a, b):
    return [TOK[str(a)], TOK["+"], TOK[str(b)], TOK["="]]


def answer_tokens(a, b):
    return [TOK[str((a + b) % 10)], EOS]


PAIRS = [(a, b) for a in range(10) for b in range(10)]
rng = np.random.default_rng(11)
order = rng.permutation(len(PAIRS))
SFT_PAIRS = [PAIRS[i] for i in order[:40]]


def sft_batch():
    seqs, masks = [], []
    for a, b in SFT_PAIRS:
        s = encode_prompt(a, b) + answer_tokens(a, b)
        m = [0] * PROMPT_LEN + [1] * (len(s) - PROMPT_LEN)
        s = s + [PAD] * (SEQ - len(s))
        m = m + [0] * (SEQ - len(m))
        seqs.append(s)
        masks.append(m)
    return mx.array(seqs), mx.array(masks, dtype=mx.float32)


def token_logps(model, seqs):
    logits = model(seqs[:, :-1])
    return -nn.losses.cross_entropy(logits, seqs[:, 1:])  # (B, SEQ-1)


def sample(model, prompts, temp=1.0):
    seq = prompts
    for _ in range(MAX_NEW):
        logits = model(seq)[:, -1, :] / temp
        nxt = mx.random.categorical(logits)
        seq = mx.concatenate([seq, nxt[:, None]], axis=1)
    return seq


def completion_mask(seqs_np):
    """1 on completion tokens up to and including the first ';'."""
    B = seqs_np.shape[0]
    m = np.zeros((B, SEQ - 1), dtype=np.float32)
    for i in range(B):
        for t in range(PROMPT_LEN, SEQ):
            m[i, t - 1] = 1.0
            if seqs_np[i, t] == EOS:
                break
    return m


def verify(seq_row, a, b):
    comp = [VOCAB[t] for t in seq_row[PROMPT_LEN:]]
    if ";" not in comp:
        return 0.0
    body = "".join(comp[: comp.index(";")])
    if not body or not body.isdigit():
        return 0.0
    return 0.2 + (1.0 if int(body) == (a + b) % 10 else 0.0)


def greedy_accuracy(model, pairs):
    prompts = mx.array([encode_prompt(a, b) for a, b in pairs])
    seq = prompts
    for _ in range(MAX_NEW):
        nxt = mx.argmax(model(seq)[:, -1, :], axis=-1)
        seq = mx.concatenate([seq, nxt[:, None]], axis=1)
    seq = np.array(seq)
    return float(np.mean([verify(seq[i], a, b) >= 1.0 for i, (a, b) in enumerate(pairs)]))


# ---------------- stage 1: supervised warm start ----------------
mx.random.seed(3)
model = LedgerLM()
mx.eval(model.parameters())
sft_x, sft_m = sft_batch()


def sft_loss(model):
    lp = token_logps(model, sft_x)
    m = sft_m[:, 1:]
    return -(lp * m).sum() / m.sum()


opt = optim.Adam(learning_rate=3e-3)
sft_step = nn.value_and_grad(model, sft_loss)
t0 = time.time()
for it in range(1, 21):
    loss, g = sft_step(model)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    if it % 20 == 0:
        print(f"[sft] step {it:3d}  nll {loss.item():.4f}  "
              f"acc(seen) {greedy_accuracy(model, SFT_PAIRS):.2f}  "
              f"acc(all) {greedy_accuracy(model, PAIRS):.2f}")

sums = [(a + b) % 10 for a, b in PAIRS]
mode_sum = max(set(sums), key=sums.count)
baseline = sums.count(mode_sum) / len(sums)
print(f"baseline (always answer {mode_sum}): acc {baseline:.2f}")

ref = LedgerLM()
ref.update(tree_unflatten(tree_flatten(model.parameters())))
ref.freeze()
mx.eval(ref.parameters())

# ---------------- stage 2: GRPO with verifier reward ----------------
G, PROMPTS_PER_STEP, STEPS, WARMUP, BETA, CLIP = 16, 32, 120, 8, 0.02, 0.2
PEAK_LR = 3e-4


def lr_at(step):
    return PEAK_LR * min(1.0, step / WARMUP)


def grpo_loss(model, seqs, old_lp, ref_lp, adv, mask):
    lp = token_logps(model, seqs)
    ratio = mx.exp(lp - old_lp)
    clipped = mx.clip(ratio, 1 - CLIP, 1 + CLIP)
    pg = -mx.minimum(ratio * adv[:, None], clipped * adv[:, None])
    d = ref_lp - lp
    kl = mx.exp(d) - d - 1.0
    per_tok = pg + BETA * kl
    per_seq = (per_tok * mask).sum(axis=1) / mask.sum(axis=1)
    return per_seq.mean(), (kl * mask).sum() / mask.sum()


def make_opt():
    return optim.Adam(learning_rate=0.0)


def run_grpo(model, opt, start, stop, ckpt_dir=None, ckpt_at=None):
    step_fn = nn.value_and_grad(model, grpo_loss)
    for step in range(start, stop):
        opt.learning_rate = lr_at(step)
        idx = np.random.default_rng(1000 + step).choice(len(PAIRS), PROMPTS_PER_STEP, replace=False)
        batch_pairs = [PAIRS[i] for i in idx for _ in range(G)]
        prompts = mx.array([encode_prompt(a, b) for a, b in batch_pairs])
        seqs = sample(model, prompts)
        seqs_np = np.array(seqs)
        rewards = np.array([verify(seqs_np[i], a, b) for i, (a, b) in enumerate(batch_pairs)],
                           dtype=np.float32).reshape(PROMPTS_PER_STEP, G)
        std = rewards.std(axis=1, keepdims=True)
        adv = (rewards - rewards.mean(axis=1, keepdims=True)) / (std + 1e-4)
        keep = np.repeat(std[:, 0] > 1e-6, G)
        skipped = int((std[:, 0] <= 1e-6).sum())
        if keep.sum() == 0:
            print(f"[grpo] step {step:3d}  all {PROMPTS_PER_STEP} groups uniform, no update")
            continue
        sel = mx.array(np.nonzero(keep)[0])
        seqs_k = seqs[sel]
        mask = mx.array(completion_mask(seqs_np[np.nonzero(keep)[0]]))
        old_lp = mx.stop_gradient(token_logps(model, seqs_k))
        ref_lp = mx.stop_gradient(token_logps(ref, seqs_k))
        (loss, kl), grads = step_fn(model, seqs_k, old_lp, ref_lp,
                                    mx.array(adv.reshape(-1)[keep]), mask)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % 20 == 0 or step == stop - 1:
            print(f"[grpo] step {step:3d}  lr {lr_at(step):.2e}  loss {loss.item():+.4f}  "
                  f"kl {kl.item():.4f}  reward {rewards.mean():.3f}  "
                  f"skipped_groups {skipped:2d}/{PROMPTS_PER_STEP}  "
                  f"acc(all) {greedy_accuracy(model, PAIRS):.2f}")
        if ckpt_at is not None and step + 1 == ckpt_at:
            model.save_weights(os.path.join(ckpt_dir, "policy.safetensors"))
            state = dict(tree_flatten(opt.state))
            mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), state)
            print(f"[ckpt] saved after step {step} -> {ckpt_dir}")
            return step + 1
    return stop


with tempfile.TemporaryDirectory() as ckdir:
    opt = make_opt()
    nxt = run_grpo(model, opt, 0, STEPS, ckpt_dir=ckdir, ckpt_at=STEPS // 2)
    # simulate a restart: fresh objects, state read back from disk
    model = LedgerLM()
    model.load_weights(os.path.join(ckdir, "policy.safetensors"))
    opt = make_opt()
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
    mx.eval(model.parameters(), opt.state)
    print(f"[ckpt] resumed at step {nxt}, acc(all) {greedy_accuracy(model, PAIRS):.2f}")
    run_grpo(model, opt, nxt, STEPS)

final = greedy_accuracy(model, PAIRS)
held = [p for p in PAIRS if p not in SFT_PAIRS]
print(f"final: acc(all) {final:.2f}  acc(held-out pairs) {greedy_accuracy(model, held):.2f}  "
      f"baseline {baseline:.2f}  time {time.time() - t0:.1f}s")
