# Speaking-clock assistant: supervised fine-tuning of a tiny chat model.
# User turn: "HH:MM" (24h, 5-minute steps). Assistant turn: British spoken time,
# e.g. "20:40" -> "twenty to nine". Loss only on assistant tokens (prompt masked),
# labels shifted by one. Two-stage curriculum: "past" minutes first, then all.
import json
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(7)
mx.random.seed(7)

SPECIAL = ["<pad>", "<bos>", "<user>", "<asst>", "<eos>"]
CHARS = list("0123456789:")
HOURS = ["twelve", "one", "two", "three", "four", "five", "six", "seven",
         "eight", "nine", "ten", "eleven"]
WORDS = sorted(set(HOURS) | {"five", "ten", "quarter", "twenty", "twenty-five",
                             "half", "past", "to", "o'clock"})
VOCAB = SPECIAL + CHARS + WORDS
TOK = {t: i for i, t in enumerate(VOCAB)}
PAD, BOS, USER, ASST, EOS = (TOK[s] for s in SPECIAL)
MIN_WORD = {5: "five", 10: "ten", 15: "quarter", 20: "twenty", 25: "twenty-five", 30: "half"}


def spoken(h, m):
    if m == 0:
        return [HOURS[h % 12], "o'clock"]
    if m <= 30:
        return [MIN_WORD[m], "past", HOURS[h % 12]]
    return [MIN_WORD[60 - m], "to", HOURS[(h + 1) % 12]]


def render(h, m):
    # chat template: <bos><user>HH:MM<asst> answer words <eos>
    prompt = [BOS, USER] + [TOK[c] for c in f"{h:02d}:{m:02d}"] + [ASST]
    answer = [TOK[w] for w in spoken(h, m)] + [EOS]
    return prompt, answer


ALL = [(h, m) for h in range(24) for m in range(0, 60, 5)]
random.shuffle(ALL)
HELD = ALL[:48]
TRAIN = ALL[48:]
PROMPT_LEN = 8
MAX_LEN = PROMPT_LEN + 4  # longest answer is 3 words + <eos>


def collate(pairs):
    rows, masks = [], []
    for h, m in pairs:
        p, a = render(h, m)
        seq = p + a
        lab = [0] * len(p) + [1] * len(a)
        rows.append(seq + [PAD] * (MAX_LEN - len(seq)))
        masks.append(lab + [0] * (MAX_LEN - len(seq)))
    x = mx.array(rows)
    w = mx.array(masks, dtype=mx.float32)
    # next-token shift: position t predicts token t+1, so the weight is the target's
    return x[:, :-1], x[:, 1:], w[:, 1:]


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, 4 * d)
        self.ff2 = nn.Linear(4 * d, d)

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.ff2(nn.gelu(self.ff1(self.ln2(x))))


class TinyChat(nn.Module):
    def __init__(self, vocab, d=48, heads=4, layers=2, ctx=16):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(ctx, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def __call__(self, ids):
        T = ids.shape[1]
        x = self.emb(ids) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln(x))


def masked_nll(model, x, y, w):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="none")
    ntok = w.sum()
    return (ce * w).sum() / ntok, (logits, ntok)


def greedy(model, pairs):
    prompts = mx.array([render(h, m)[0] for h, m in pairs])
    out = prompts
    for _ in range(4):
        nxt = mx.argmax(model(out)[:, -1, :], axis=-1)
        out = mx.concatenate([out, nxt[:, None]], axis=1)
    out = out[:, PROMPT_LEN:].tolist()
    hits = 0
    for row, (h, m) in zip(out, pairs):
        _, ans = render(h, m)
        hits += int(row[: len(ans)] == ans)
    return 100.0 * hits / len(pairs)


model = TinyChat(len(VOCAB))
WARM, STAGE1, STAGE2, PEAK = 40, 160, 240, 3e-3
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM),
     optim.cosine_decay(PEAK, STAGE1 + STAGE2 - WARM, end=1e-4)], [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)


def loss_only(model, x, y, w):
    return masked_nll(model, x, y, w)[0]


vg = nn.value_and_grad(model, loss_only)

# audit: every trainable tensor must receive gradient through the masked loss
x0, y0, w0 = collate(TRAIN[:32])
_, g0 = vg(model, x0, y0, w0)
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "all_zero": zero}))
print(json.dumps({"event": "config", "vocab": len(VOCAB), "train": len(TRAIN), "held_out": len(HELD),
                  "uniform_ref_nll": round(math.log(len(VOCAB)), 4)}))

BATCH = 32
step = 0
for stage, n_steps in ((1, STAGE1), (2, STAGE2)):
    pool = [p for p in TRAIN if p[1] <= 30] if stage == 1 else list(TRAIN)
    held = [p for p in HELD if p[1] <= 30] if stage == 1 else list(HELD)
    run_loss, run_n = 0.0, 0
    for i in range(1, n_steps + 1):
        batch = random.sample(pool, BATCH)
        x, y, w = collate(batch)
        loss, grads = vg(model, x, y, w)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        run_loss += loss.item()
        run_n += 1
        if i % 40 == 0 or i == 1:
            model.eval()
            xa, ya, wa = collate(pool)
            _, (lg, nt) = masked_nll(model, xa, ya, wa)
            acc = ((mx.argmax(lg, axis=-1) == ya).astype(mx.float32) * wa).sum() / nt
            em = greedy(model, held)
            model.train()
            print(json.dumps({
                "stage": stage, "it": i, "global_step": step,
                "lr": round(float(opt.learning_rate), 6),
                "ans_nll": round(run_loss / run_n, 4),
                "ans_tok_acc_pct": round(100.0 * acc.item(), 1),
                "heldout_exact_pct": round(em, 1),
                "uniform_ref_nll": round(math.log(len(VOCAB)), 4),
            }))
            run_loss, run_n = 0.0, 0

model.eval()
final = greedy(model, HELD)
print(json.dumps({"event": "final", "heldout_exact_pct": round(final, 1), "n_heldout": len(HELD)}))
for h, m in HELD[:4]:
    p, _ = render(h, m)
    out = mx.array([p])
    for _ in range(4):
        out = mx.concatenate([out, mx.argmax(model(out)[:, -1, :], axis=-1)[:, None]], axis=1)
    words = [VOCAB[t] for t in out[0, PROMPT_LEN:].tolist()]
    if "<eos>" in words:
        words = words[: words.index("<eos>")]
    print(json.dumps({"event": "sample", "user": f"{h:02d}:{m:02d}", "assistant": " ".join(words),
                      "reference": " ".join(spoken(h, m))}))
