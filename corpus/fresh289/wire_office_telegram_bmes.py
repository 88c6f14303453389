"""Wire office: re-spacing run-together telegram text.

Telegrams arrive as one continuous string of capitals (the sender paid per
word, the operator dropped the spaces).  Each character gets a BMES tag
(Begin / Middle / End of a word, or Single-letter word) from a hand-made
bidirectional LSTM: one nn.LSTM reads the text left to right, a second one
reads each telegram right to left (reversed inside its own length, so the
padding stays at the tail), and the two hidden streams are concatenated.

Training runs in two sittings: the first sitting writes a checkpoint
(weights + optimizer state) and the second sitting rebuilds everything
from disk and carries on from the saved step.
"""

import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
np.random.seed(SEED)
mx.random.seed(SEED)

LEXICON = [
    "A", "I", "AT", "ON", "TO", "BY", "NO", "OF", "IN", "AM", "WE",
    "ARRIVE", "ARRIVING", "TUESDAY", "FRIDAY", "NOON", "TRAIN", "STOP",
    "SEND", "MONEY", "FATHER", "MOTHER", "WELL", "ILL", "COME", "HOME",
    "SOON", "LETTER", "FOLLOWS", "REGRET", "DELAY", "CONFIRM", "ORDER",
    "CARGO", "SHIP", "SAILS", "PORT", "WIRE", "REPLY", "PAID", "LOVE",
    "BABY", "BOY", "GIRL", "BORN", "SAFE", "ALL", "NEWS", "GOOD", "BAD",
]
ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
PAD = 0
CHAR_ID = {c: i + 1 for i, c in enumerate(ALPHA)}
TAGS = "BMES"
N_TAGS = 4
# Zipf-like word frequencies: short function words are common.
freq = np.array([1.0 / (1 + 0.15 * len(w) + 0.05 * k) for k, w in enumerate(LEXICON)])
freq = freq / freq.sum()


MAX_CHARS = 22


def telegram(rng):
    while True:
        n_words = rng.integers(2, 6)
        words = [LEXICON[i] for i in rng.choice(len(LEXICON), size=n_words, p=freq)]
        if sum(len(w) for w in words) <= MAX_CHARS:
            break
    chars, tags = [], []
    for w in words:
        chars.extend(CHAR_ID[c] for c in w)
        if len(w) == 1:
            tags.append(3)
        else:
            tags.extend([0] + [1] * (len(w) - 2) + [2])
    return words, chars, tags


def make_set(n, rng):
    items = [telegram(rng) for _ in range(n)]
    max_len = max(len(c) for _, c, _ in items)
    x = np.zeros((n, max_len), dtype=np.int32)
    y = np.zeros((n, max_len), dtype=np.int32)
    lengths = np.zeros((n,), dtype=np.int32)
    for k, (_, c, t) in enumerate(items):
        x[k, : len(c)] = c
        y[k, : len(t)] = t
        lengths[k] = len(c)
    return items, x, y, lengths


rng = np.random.default_rng(SEED)
train_items, Xtr, Ytr, Ltr = make_set(5000, rng)
val_items, Xva, Yva, Lva = make_set(500, rng)


def reverse_within_length(h, lengths):
    """Reverse every row of h (N, T, D) inside its own length; padding stays put."""
    T = h.shape[1]
    j = mx.arange(T)[None, :]
    L = lengths[:, None]
    idx = mx.where(j < L, L - 1 - j, j)
    return mx.take_along_axis(h, idx[:, :, None], axis=1)


class TelegramTagger(nn.Module):
    def __init__(self, vocab=27, emb=16, hidden=32):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        self.fwd = nn.LSTM(emb, hidden)
        self.bwd = nn.LSTM(emb, hidden)
        self.head = nn.Linear(2 * hidden, N_TAGS)

    def __call__(self, x, lengths):
        e = self.embed(x)
        h_f, _ = self.fwd(e)
        h_b, _ = self.bwd(reverse_within_length(e, lengths))
        h_b = reverse_within_length(h_b, lengths)
        return self.head(mx.concatenate([h_f, h_b], axis=-1))


def masked_ce(model, x, y, lengths):
    logits = model(x, lengths)
    mask = (mx.arange(x.shape[1])[None, :] < lengths[:, None]).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, y, reduction="none")
    return (ce * mask).sum() / mask.sum()


def decode_words(chars, tags):
    words, cur = [], ""
    for c, t in zip(chars, tags):
        cur += ALPHA[c - 1]
        if t in (2, 3):
            words.append(cur)
            cur = ""
    if cur:
        words.append(cur)
    return words


def spans(words):
    out, pos = set(), 0
    for w in words:
        out.add((pos, pos + len(w)))
        pos += len(w)
    return out


def word_f1(pred_words_list, gold_words_list):
    tp = fp = fn = 0
    for p, g in zip(pred_words_list, gold_words_list):
        sp, sg = spans(p), spans(g)
        tp += len(sp & sg)
        fp += len(sp - sg)
        fn += len(sg - sp)
    prec = tp / max(tp + fp, 1)
    rec = tp / max(tp + fn, 1)
    return 2 * prec * rec / max(prec + rec, 1e-9)


def greedy_longest_match(text):
    words, i = [], 0
    by_len = sorted(LEXICON, key=len, reverse=True)
    while i < len(text):
        for w in by_len:
            if text.startswith(w, i):
                words.append(w)
                i += len(w)
                break
        else:
            words.append(text[i])
            i += 1
    return words


def evaluate(model):
    x, L = mx.array(Xva), mx.array(Lva)
    logits = model(x, L)
    pred = np.array(mx.argmax(logits, axis=-1))
    mask = np.arange(Xva.shape[1])[None, :] < Lva[:, None]
    tag_acc = float(((pred == Yva) & mask).sum() / mask.sum())
    pred_words = [decode_words(Xva[k, : Lva[k]], pred[k, : Lva[k]]) for k in range(len(Lva))]
    gold_words = [w for w, _, _ in val_items]
    val_loss = masked_ce(model, x, mx.array(Yva), L).item()
    return val_loss, tag_acc, word_f1(pred_words, gold_words)


BATCH = 32
TOTAL_STEPS = 360
FIRST_SITTING = 180


def make_optimizer():
    warm = optim.linear_schedule(0.0, 1e-2, 40)
    decay = optim.cosine_decay(1e-2, TOTAL_STEPS - 40, 1e-3)
    return optim.Adamax(learning_rate=optim.join_schedules([warm, decay], [40]))




def run_steps(model, opt, start, stop, perm_rng, t0, stage):
    step_fn = nn.value_and_grad(model, masked_ce)
    window = []
    for step in range(start, stop):
        rows = perm_rng.choice(len(Ltr), size=BATCH, replace=False)
        lengths = Ltr[rows]
        T = int(lengths.max())
        x = mx.array(Xtr[rows, :T])
        y = mx.array(Ytr[rows, :T])
        L = mx.array(lengths)
        lr_now = opt.learning_rate.item()
        loss, grads = step_fn(model, x, y, L)
        if step == 0:
            before = model.head.weight * 1.0
            mx.eval(before)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 0:
            moved = mx.abs(model.head.weight - before).max().item()
            print(f"event=first_update step=1 lr={lr_now:.5f} head_max_change={moved:.2e}")
        window.append(loss.item())
        if (step + 1) % 40 == 0:
            print(
                f"sitting={stage} step={step + 1} lr={lr_now:.5f} "
                f"train_ce={np.mean(window):.4f} secs={time.perf_counter() - t0:.1f}"
            )
            window = []


t0 = time.perf_counter()
base_words = [greedy_longest_match("".join(ALPHA[c - 1] for c in Xva[k, : Lva[k]])) for k in range(len(Lva))]
base_f1 = word_f1(base_words, [w for w, _, _ in val_items])
print(f"event=data train={len(Ltr)} val={len(Lva)} max_len={Xtr.shape[1]} lexicon={len(LEXICON)}")
print(f"event=baseline method=greedy_longest_match val_word_f1={base_f1:.4f}")
print(f"event=baseline method=all_single_letters val_tag_acc={float((Yva == 3)[np.arange(Xva.shape[1])[None, :] < Lva[:, None]].mean()):.4f}")

model = TelegramTagger()
opt = make_optimizer()
mx.eval(model.parameters())
vl, acc, f1 = evaluate(model)
print(f"event=eval sitting=0 step=0 val_ce={vl:.4f} val_tag_acc={acc:.4f} val_word_f1={f1:.4f}")

perm_rng = np.random.default_rng(SEED + 1)
run_steps(model, opt, 0, FIRST_SITTING, perm_rng, t0, 1)
vl, acc, f1 = evaluate(model)
print(f"event=eval sitting=1 step={FIRST_SITTING} val_ce={vl:.4f} val_tag_acc={acc:.4f} val_word_f1={f1:.4f}")

ckpt_dir = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt_dir, "tagger.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"event=checkpoint step={FIRST_SITTING} files={sorted(os.listdir(ckpt_dir))}")
del model, opt

# second sitting: everything rebuilt from disk
model = TelegramTagger()
model.load_weights(os.path.join(ckpt_dir, "tagger.safetensors"))
opt = make_optimizer()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
resumed_at = int(opt.state["step"].item())
vl, acc, f1 = evaluate(model)
print(f"event=resume step={resumed_at} lr={opt.learning_rate.item():.5f} val_ce={vl:.4f} val_tag_acc={acc:.4f}")
run_steps(model, opt, resumed_at, TOTAL_STEPS, perm_rng, t0, 2)
vl, acc, f1 = evaluate(model)
print(f"event=eval sitting=2 step={TOTAL_STEPS} val_ce={vl:.4f} val_tag_acc={acc:.4f} val_word_f1={f1:.4f}")
print(f"event=summary model_word_f1={f1:.4f} greedy_word_f1={base_f1:.4f} secs={time.perf_counter() - t0:.1f}")
for k in range(3):
    text = "".join(ALPHA[c - 1] for c in Xva[k, : Lva[k]])
    pred = np.array(mx.argmax(model(mx.array(Xva[k : k + 1, : Lva[k]]), mx.array(Lva[k : k + 1])), axis=-1))[0]
    print(f"event=sample wire={text} respaced={' '.join(decode_words(Xva[k, : Lva[k]], pred))}")
