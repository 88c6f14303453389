# Fieldwork notebook of an invented language with vowel harmony: lemma + tag
# (PL / GEN / PST / DIM) -> inflected form. Non-autoregressive mask-predict
# (CMLM) encoder-decoder with a target-length head; decoding refines the whole
# word in K passes. TSV log, one header line.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
rng = np.random.default_rng(3)

CONS = list("ptkmnslr")
BACK, FRONT = list("aou"), list("ei")
TAGS = ["<PL>", "<GEN>", "<PST>", "<DIM>"]
SPECIAL = ["<pad>", "<mask>"]
VOCAB = SPECIAL + TAGS + CONS + BACK + FRONT
IDX = {c: i for i, c in enumerate(VOCAB)}
PAD, MASK = 0, 1
V = len(VOCAB)
MAX_SRC, MAX_TGT = 7, 9


def lemma():
    n = rng.integers(2, 4)
    back = rng.random() < 0.5
    vow = BACK if back else FRONT
    s = ""
    for _ in range(n):
        s += CONS[rng.integers(len(CONS))] + vow[rng.integers(len(vow))]
    if rng.random() < 0.4:
        s += CONS[rng.integers(len(CONS))]
    return s[:6]


def inflect(lem, tag):
    back = lem[[i for i, c in enumerate(lem) if c in BACK + FRONT][-1]] in BACK
    a, e = ("a", "u") if back else ("e", "i")
    ends_vowel = lem[-1] in BACK + FRONT
    if tag == "<PL>":
        return lem + "l" + a + "r"
    if tag == "<GEN>":
        return lem + ("n" + e if ends_vowel else e + "n")
    if tag == "<PST>":
        return lem + "t" + a
    return lem + ("k" if ends_vowel else a + "k")


def dataset(n):
    src = np.zeros((n, MAX_SRC), np.int32)
    tgt = np.zeros((n, MAX_TGT), np.int32)
    lens = np.zeros(n, np.int32)
    words = []
    for i in range(n):
        lem, tag = lemma(), TAGS[rng.integers(4)]
        out = inflect(lem, tag)
        s = [IDX[tag]] + [IDX[c] for c in lem]
        src[i, :len(s)] = s
        tgt[i, :len(out)] = [IDX[c] for c in out]
        lens[i] = len(out)
        words.append((lem, tag, out))
    return src, tgt, lens, words


class CMLM(nn.Module):
    def __init__(self, d=32, heads=4):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.src_pos = nn.Embedding(MAX_SRC, d)
        self.tgt_pos = nn.Embedding(MAX_TGT, d)
        self.encoder = nn.TransformerEncoder(2, d, heads, 2 * d)
        self.decoder = nn.TransformerDecoder(2, d, heads, 2 * d)
        self.length_head = nn.Linear(d, MAX_TGT + 1)
        self.out = nn.Linear(d, V)

    def encode(self, src):
        h = self.emb(src) + self.src_pos(mx.arange(src.shape[1]))
        keep = (src != PAD)[:, None, None, :]
        mask = mx.where(keep, 0.0, -1e9)
        mem = self.encoder(h, mask)
        pooled = (mem * keep[:, 0, 0, :, None]).sum(1) / keep.sum(-1)[:, 0, 0, None]
        return mem, mask, self.length_head(pooled)

    def __call__(self, src, dec_in):
        mem, mask, len_logits = self.encode(src)
        y = self.emb(dec_in) + self.tgt_pos(mx.arange(dec_in.shape[1]))
        h = self.decoder(y, mem, None, mask)
        return self.out(h), len_logits


def loss_fn(model, src, dec_in, tgt, masked, lens):
    logits, len_logits = model(src, dec_in)
    tok = nn.losses.cross_entropy(logits, tgt, reduction="none")
    tok = (tok * masked).sum() / masked.sum()
    length = nn.losses.cross_entropy(len_logits, lens, reduction="mean")
    return tok + 0.1 * length, (tok, length)


def corrupt(tgt, lens):
    # mask a uniformly random number (1..len) of the real target positions
    B, T = tgt.shape
    valid = np.arange(T)[None, :] < lens[:, None]
    k = np.ceil(rng.random(B) * lens).astype(int)
    score = np.where(valid, rng.random((B, T)), 2.0)
    order = np.argsort(score, axis=1)
    masked = np.zeros((B, T), np.float32)
    for b in range(B):
        masked[b, order[b, :k[b]]] = 1.0
    dec_in = np.where(masked > 0, MASK, tgt)
    dec_in = np.where(valid, dec_in, PAD)
    return dec_in, masked


def mask_predict(model, src, iters):
    mem, mask, len_logits = model.encode(src)
    L = np.array(mx.argmax(len_logits, axis=-1))
    B = src.shape[0]
    valid = np.arange(MAX_TGT)[None, :] < L[:, None]
    cur = np.where(valid, MASK, PAD).astype(np.int32)
    probs = np.zeros((B, MAX_TGT), np.float32)
    for t in range(iters):
        y = model.emb(mx.array(cur)) + model.tgt_pos(mx.arange(MAX_TGT))
        logits = model.out(model.decoder(y, mem, None, mask))
        logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        pred = np.array(mx.argmax(logp, axis=-1))
        conf = np.array(mx.max(logp, axis=-1))
        upd = cur == MASK
        cur = np.where(upd, pred, cur)
        probs = np.where(upd, conf, probs)
        if t == iters - 1:
            break
        n_mask = (L * (iters - 1 - t) / iters).astype(int)
        for b in range(B):
            if n_mask[b] > 0:
                order = np.argsort(np.where(valid[b], probs[b], 9.0))
                cur[b, order[:n_mask[b]]] = MASK
    out = []
    for b in range(B):
        out.append("".join(VOCAB[i] for i in cur[b, :L[b]] if i >= len(SPECIAL) + len(TAGS)))
    return out


def edit_distance(a, b):
    d = np.arange(len(b) + 1)
    for i, ca in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, cb in enumerate(b, 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (ca != cb))
            prev, d[j] = d[j], cur
    return d[-1]


def cer(hyps, words):
    return 100.0 * sum(edit_distance(h, w[2]) for h, w in zip(hyps, words)) / sum(len(w[2]) for w in words)


tr_src, tr_tgt, tr_len, _ = dataset(6000)
va_src, va_tgt, va_len, va_words = dataset(300)
va_src_mx = mx.array(va_src)

model = CMLM()
mx.eval(model.parameters())
STEPS, PEAK = 360, 3e-3
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, 100), optim.linear_schedule(PEAK, 3e-5, STEPS - 100)], [100])
opt = optim.Adam(learning_rate=sched)
step_fn = nn.value_and_grad(model, loss_fn)

copy_cer = cer([w[0] for w in va_words], va_words)
print("step\tlr\tmasked_ce\tlength_ce\tval_len_acc\tcer_k1\tcer_k4\texact_k4\tcopy_lemma_cer\tsecs")
t0 = time.time()
win_tok, win_len = [], []
for step in range(1, STEPS + 1):
    idx = rng.integers(0, len(tr_src), 64)
    dec_in, masked = corrupt(tr_tgt[idx], tr_len[idx])
    lr_now = float(sched(opt.step))
    (loss, (tok, ln)), grads = step_fn(model, mx.array(tr_src[idx]), mx.array(dec_in),
                                        mx.array(tr_tgt[idx]), mx.array(masked), mx.array(tr_len[idx]))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    win_tok.append(tok.item())
    win_len.append(ln.item())
    if step % 60 == 0 or step == 1:
        _, _, len_logits = model.encode(va_src_mx)
        len_acc = 100.0 * float((np.array(mx.argmax(len_logits, -1)) == va_len).mean())
        h1 = mask_predict(model, va_src_mx, 1)
        h4 = mask_predict(model, va_src_mx, 4)
        exact = 100.0 * np.mean([h == w[2] for h, w in zip(h4, va_words)])
        print(f"{step}\t{lr_now:.2e}\t{np.mean(win_tok):.4f}\t{np.mean(win_len):.4f}\t{len_acc:.1f}\t"
              f"{cer(h1, va_words):.2f}\t{cer(h4, va_words):.2f}\t{exact:.1f}\t{copy_cer:.2f}\t{time.time() - t0:.1f}")
        win_tok, win_len = [], []

h4 = mask_predict(model, va_src_mx, 4)
for (lem, tag, out), h in list(zip(va_words, h4))[:6]:
    print(f"# {lem} {tag} -> {h} (gold {out})")
