"""Court-reporter steno decoding: chord strokes -> English words.

A synthetic stenotype machine writes one chord per word.  Chords are
tokenized with a vocabulary built from the clean session-1 notes only (min
count 2), so a misstroked chord falls to <unk>; sentences are right-padded with <pad>,
and a GRU tagger reads the stroke stream and names the word of every stroke.

Session 1 trains on clean writing.  The notes are then put on disk and the
reporter comes back for session 2 (fresh model and optimizer read back from
disk) where the writer is tired: ~20 % of chords are misstroked (one key
dropped or one extra key hit), so the loss goes up at the start of session 2
and the dictionary-lookup baseline falls behind the context model.
The log is printed like a transcript: numbered lines, 25 to a page.
"""
import json
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)

KEYS = list("STKPWHRAO*EUFRPBLGTSDZ")
KEYS = [f"{k}{i}" for i, k in enumerate(KEYS)]       # 22 distinct key names
N_WORDS = 48
PAD, UNK = "<pad>", "<unk>"


# ----------------------------------------------------------------- data ----
def make_dictionary():
    chords, seen = [], set()
    while len(chords) < N_WORDS:
        k = rng.integers(3, 6)
        chord = tuple(sorted(rng.choice(len(KEYS), size=k, replace=False)))
        if chord not in seen:
            seen.add(chord)
            chords.append(chord)
    words = [f"w{i:02d}" for i in range(N_WORDS)]
    return words, chords


def make_grammar():
    trans = np.zeros((N_WORDS, N_WORDS))
    for i in range(N_WORDS):
        nxt = rng.choice(N_WORDS, size=4, replace=False)
        trans[i, nxt] = rng.dirichlet(np.ones(4) * 0.7)
    return trans


def chord_str(chord):
    return "-".join(KEYS[k] for k in chord)


def misstroke(chord):
    chord = list(chord)
    if rng.random() < 0.5 and len(chord) > 2:
        chord.pop(rng.integers(len(chord)))
    else:
        extra = [k for k in range(len(KEYS)) if k not in chord]
        chord.append(int(rng.choice(extra)))
    return tuple(sorted(chord))


def make_sentences(n, chords, trans, p_miss):
    out = []
    for _ in range(n):
        L = int(rng.integers(4, 11))
        w = int(rng.integers(N_WORDS))
        words, strokes = [], []
        for _ in range(L):
            c = chords[w]
            if rng.random() < p_miss:
                c = misstroke(c)
            words.append(w)
            strokes.append(chord_str(c))
            w = int(rng.choice(N_WORDS, p=trans[w]))
        out.append((strokes, words))
    return out


class StrokeTokenizer:
    def __init__(self, corpus, min_count=2):
        counts = {}
        for strokes, _ in corpus:
            for s in strokes:
                counts[s] = counts.get(s, 0) + 1
        kept = sorted(s for s, c in counts.items() if c >= min_count)
        self.itos = [PAD, UNK] + kept
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        self.pad_id, self.unk_id = 0, 1

    def __len__(self):
        return len(self.itos)

    def encode(self, strokes):
        return [self.stoi.get(s, self.unk_id) for s in strokes]


def collate(tok, rows):
    L = max(len(s) for s, _ in rows)
    x = np.full((len(rows), L), tok.pad_id, dtype=np.int32)
    y = np.zeros((len(rows), L), dtype=np.int32)
    m = np.zeros((len(rows), L), dtype=np.float32)
    for i, (s, w) in enumerate(rows):
        x[i, : len(s)] = tok.encode(s)
        y[i, : len(w)] = w
        m[i, : len(w)] = 1.0
    return mx.array(x), mx.array(y), mx.array(m)


# ---------------------------------------------------------------- model ----
class StenoTagger(nn.Module):
    def __init__(self, n_tokens, n_words, dims=32, hidden=64):
        super().__init__()
        self.embed = nn.Embedding(n_tokens, dims)
        self.fwd = nn.GRU(dims, hidden)
        self.head = nn.Linear(hidden + dims, n_words)

    def __call__(self, x):
        e = self.embed(x)
        h = self.fwd(e)
        return self.head(mx.concatenate([h, e], axis=-1))


def loss_fn(model, x, y, m):
    ce = nn.losses.cross_entropy(model(x), y, reduction="none")
    return (ce * m).sum() / m.sum()


def word_accuracy(model, tok, data, bs=256):
    hit = tot = 0.0
    for i in range(0, len(data), bs):
        x, y, m = collate(tok, data[i:i + bs])
        pred = mx.argmax(model(x), axis=-1)
        hit += ((pred == y).astype(mx.float32) * m).sum().item()
        tot += m.sum().item()
    return 100.0 * hit / tot


def mean_loss(model, tok, data, bs=256):
    tot = n = 0.0
    for i in range(0, len(data), bs):
        x, y, m = collate(tok, data[i:i + bs])
        tot += loss_fn(model, x, y, m).item() * m.sum().item()
        n += m.sum().item()
    return tot / n


def dictionary_baseline(train, data):
    table = {}
    for strokes, words in train:
        for s, w in zip(strokes, words):
            table.setdefault(s, {}).setdefault(w, 0)
            table[s][w] += 1
    best = {s: max(d, key=d.get) for s, d in table.items()}
    hit = tot = 0
    for strokes, words in data:
        for s, w in zip(strokes, words):
            hit += best.get(s, -1) == w
            tot += 1
    return 100.0 * hit / tot


# ----------------------------------------------------------- transcript ----
class Transcript:
    def __init__(self):
        self.line = 0
        self.page = 0

    def say(self, text):
        if self.line % 25 == 0:
            self.page += 1
            print(f"{'':>20}-- Page {self.page} --", flush=True)
        self.line += 1
        print(f"{(self.line - 1) % 25 + 1:>3}  {text}", flush=True)


def train_session(model, opt, tok, train, val, dict_val, epochs, T, label,
                  quiet_epochs=(), bs=64):
    state = [model.state, opt.state]
    step_fn = nn.value_and_grad(model, loss_fn)
    for ep in range(1, epochs + 1):
        order = rng.permutation(len(train))
        run, nb = 0.0, 0
        for b in range(0, len(order) - bs + 1, bs):
            rows = [train[i] for i in order[b:b + bs]]
            x, y, m = collate(tok, rows)
            loss, g = step_fn(model, x, y, m)
            opt.update(model, g)
            mx.eval(state, loss)
            run += loss.item()
            nb += 1
        if ep in quiet_epochs:
            if ep - 1 not in quiet_epochs:
                T.say("(Off the record.)")
            continue
        if ep - 1 in quiet_epochs:
            T.say("(Back on the record.)")
        acc = word_accuracy(model, tok, val)
        T.say(f"Q. {label} epoch {ep}: train loss {run / nb:.4f}, "
              f"lr {opt.learning_rate.item():.2e}")
        T.say(f"A. val loss {mean_loss(model, tok, val):.4f}, word acc "
              f"{acc:5.1f}% (dictionary lookup {dict_val:5.1f}%)")


def main():
    t0 = time.time()
    T = Transcript()
    words, chords = make_dictionary()
    trans = make_grammar()
    clean_train = make_sentences(1000, chords, trans, p_miss=0.0)
    tired_train = make_sentences(1000, chords, trans, p_miss=0.2)
    tired_val = make_sentences(300, chords, trans, p_miss=0.2)
    clean_val = make_sentences(300, chords, trans, p_miss=0.0)

    tok = StrokeTokenizer(clean_train, min_count=2)
    n_unk = sum(s not in tok.stoi for st, _ in tired_val for s in st)
    n_val = sum(len(st) for st, _ in tired_val)
    T.say(f"THE REPORTER: {len(tok)} stroke tokens (incl. {PAD}, {UNK}); "
          f"{n_unk}/{n_val} val strokes map to {UNK}")

    model = StenoTagger(len(tok), N_WORDS)
    mx.eval(model.parameters())
    warm = optim.linear_schedule(0.0, 3e-3, 40)
    sched = optim.join_schedules([warm, optim.cosine_decay(3e-3, 260, 3e-4)], [40])
    opt = optim.Adam(learning_rate=sched)

    x, y, m = collate(tok, clean_train[:64])
    g = nn.value_and_grad(model, loss_fn)(model, x, y, m)[1]
    leaves = tree_flatten(g)
    T.say(f"THE REPORTER: gradient check, {len(leaves)} leaves, "
          f"{sum(float(mx.abs(v).sum()) > 0 for _, v in leaves)} nonzero; "
          f"chance loss {np.log(N_WORDS):.3f}")

    dict_clean = dictionary_baseline(clean_train, clean_val)
    train_session(model, opt, tok, clean_train, clean_val, dict_clean, 3, T,
                  "session-1")

    with tempfile.TemporaryDirectory() as d:
        model.save_weights(os.path.join(d, "notes.safetensors"))
        mx.save_safetensors(os.path.join(d, "opt.safetensors"),
                            dict(tree_flatten(opt.state)))
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump({"vocab": tok.itos}, f)
        before = word_accuracy(model, tok, clean_val)
        del model, opt
        model = StenoTagger(len(tok), N_WORDS)
        model.load_weights(os.path.join(d, "notes.safetensors"))
        opt = optim.Adam(learning_rate=sched)
        opt.state = tree_unflatten(list(
            mx.load(os.path.join(d, "opt.safetensors")).items()))
        with open(os.path.join(d, "meta.json")) as f:
            assert json.load(f)["vocab"] == tok.itos
    after = word_accuracy(model, tok, clean_val)
    T.say(f"(Recess.) notes read back: clean acc {before:.1f}% -> {after:.1f}%, "
          f"optimizer step {int(opt.state['step'].item())}")

    dict_tired = dictionary_baseline(clean_train, tired_val)
    T.say(f"THE REPORTER: session 2, tired writer; dictionary lookup on "
          f"misstroked notes {dict_tired:.1f}%")
    train_session(model, opt, tok, clean_train + tired_train, tired_val,
                  dict_tired, 7, T, "session-2", quiet_epochs=(2, 3, 4))
    T.say(f"(Whereupon the proceedings concluded at {time.time() - t0:.1f}s.)")


if __name__ == "__main__":
    main()
