# Response-only SFT of a tiny chat LM ("train on completions").
# Only the assistant's answer tokens should count in the loss; the mask is
# switched on after the assistant role token of the chat template.
import math
import random
import re
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(3)
mx.random.seed(3)


# ---------------------------------------------------------------- tokenizer
class ToyChatTokenizer:
    """Word-piece-ish tokenizer shared by several chat families.

    Special markers and role words are single tokens; everything else is
    split into characters.  Both "model" (Gemma style) and "assistant"
    (ChatML / Qwen style) are in the vocabulary.
    """

    SPECIALS = ["<pad>", "<|im_start|>", "<|im_end|>", "<start_of_turn>",
                "<end_of_turn>", "user", "assistant", "model", "system"]

    def __init__(self):
        chars = list("abcdefghijklmnopqrstuvwxyz0123456789 ?.,:\n")
        self.vocab = self.SPECIALS + chars
        self.ids = {t: i for i, t in enumerate(self.vocab)}
        pat = "|".join(re.escape(s) for s in sorted(self.SPECIALS, key=len, reverse=True))
        self.rx = re.compile(f"({pat})")

    def encode(self, text, add_special_tokens=False):
        out = []
        for piece in self.rx.split(text):
            if not piece:
                continue
            if piece in self.ids:
                out.append(self.ids[piece])
            else:
                out.extend(self.ids[c] for c in piece)
        return out

    def decode(self, ids):
        return "".join(self.vocab[i] for i in ids)

    def apply_chat_template(self, messages, add_generation_prompt=False):
        # ChatML (Qwen) template
        s = ""
        for m in messages:
            s += f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
        if add_generation_prompt:
            s += "<|im_start|>assistant\n"
        return s


tok = ToyChatTokenizer()
V = len(tok.vocab)

# ------------------------------------------------------------------ dataset
CAPITALS = {
    "france": "paris", "italy": "rome", "spain": "madrid", "japan": "tokyo",
    "peru": "lima", "kenya": "nairobi", "egypt": "cairo", "chile": "santiago",
    "cuba": "havana", "nepal": "kathmandu", "ghana": "accra", "iran": "tehran",
}


def make_example(country):
    msgs = [{"role": "user", "content": f"capital of {country}?"},
            {"role": "assistant", "content": CAPITALS[country]}]
    return tok.encode(tok.apply_chat_template(msgs))


examples = [make_example(c) for c in CAPITALS]
MAXLEN = max(len(e) for e in examples) + 1


def detect_assistant_id(tokenizer):
    # pick the role word that starts the assistant turn: render the template
    # with and without the generation prompt, the difference is the header
    user_only = [{"role": "user", "content": "hi"}]
    with_gen = tokenizer.encode(tokenizer.apply_chat_template(user_only, add_generation_prompt=True))
    without_gen = tokenizer.encode(tokenizer.apply_chat_template(user_only, add_generation_prompt=False))
    header = with_gen[len(without_gen):]
    best = None
    for t in header:
        text = tokenizer.decode([t]).lower()
        if "assistant" in text or "model" in text:
            best = t
    return best


ASSISTANT_ID = detect_assistant_id(tok)


def completion_mask(ids, assistant_id):
    """1 for tokens after the assistant role token (answer + end marker)."""
    mask, on = [], False
    for t in ids:
        mask.append(1.0 if on else 0.0)
        if t == assistant_id:
            on = True
    return mask


def batchify(idx):
    xs, ms = [], []
    for i in idx:
        ids = examples[i]
        m = completion_mask(ids, ASSISTANT_ID)
        pad = MAXLEN - len(ids)
        xs.append(ids + [0] * pad)
        ms.append(m + [0.0] * pad)
    return mx.array(xs), mx.array(ms)


# -------------------------------------------------------------------- model
class TinyLM(nn.Module):
    def __init__(self, vocab, dim=64, heads=4, layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(MAXLEN, dim)
        self.blocks = [nn.TransformerEncoderLayer(dim, heads, dim * 4) for _ in range(layers)]
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)

    def __call__(self, x):
        L = x.shape[1]
        h = self.embed(x) + self.pos(mx.arange(L))
        causal = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for b in self.blocks:
            h = b(h, causal)
        return self.head(self.norm(h))


def loss_fn(model, x, m):
    logits = model(x[:, :-1])
    targets = x[:, 1:]
    mask = m[:, 1:]
    ce = nn.losses.cross_entropy(logits, targets, reduction="none")
    ntok = mx.maximum(mask.sum(), 1.0)
    return (ce * mask).sum() / ntok


model = TinyLM(V)
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
loss_and_grad = nn.value_and_grad(model, loss_fn)

total_steps = 150
logging_steps = 10
batch_size = 8
t0 = time.time()
running = 0.0
print(f"vocab={V} examples={len(examples)} assistant_id={ASSISTANT_ID}", flush=True)
for step in range(1, total_steps + 1):
    idx = random.sample(range(len(examples)), batch_size)
    x, m = batchify(idx)
    loss, grads = loss_and_grad(model, x, m)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    lv = loss.item()
    running += lv
    if step % logging_steps == 0:
        frac = step / total_steps
        bar = "#" * int(frac * 20)
        el = time.time() - t0
        print(f"Training: {int(frac*100):3d}%|{bar:<20}| {step}/{total_steps} "
              f"[{el:05.1f}s, loss={lv:.4f}, avg_loss={running/step:.4f}]", flush=True)

# quick greedy check on two prompts
for country in ["japan", "peru"]:
    prompt = tok.encode(tok.apply_chat_template(
        [{"role": "user", "content": f"capital of {country}?"}], add_generation_prompt=True))
    ids = list(prompt)
    for _ in range(10):
        logits = model(mx.array([ids]))[0, -1]
        nxt = int(mx.argmax(logits).item())
        if nxt == tok.ids["<|im_end|>"]:
            break
        ids.append(nxt)
    print(f"{country} -> {tok.decode(ids[len(prompt):])!r}", flush=True)
