"""Linear-chain CRF part-of-speech-style tagger on synthetic HMM data.

Emission scores come from a small embedding+context network, transition scores
are a learned (T x T) matrix plus start/stop vectors.  The loss is the exact CRF
negative log-likelihood (forward algorithm in log space); decoding is Viterbi.
Progress is written as YAML documents, one per evaluation.
"""
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

NTAG, VOCAB, EMB, SEQ = 5, 30, 24, 14
rng = random.Random(11)

# ---- synthetic HMM: sticky, structured transitions; overlapping emissions ----
TRANS = [[0.05] * NTAG for _ in range(NTAG)]
for a in range(NTAG):
    TRANS[a][(a + 1) % NTAG] = 0.6
    TRANS[a][a] = 0.2
    s = sum(TRANS[a])
    TRANS[a] = [p / s for p in TRANS[a]]
EMIT = []
for t in range(NTAG):
    row = [0.2] * VOCAB
    for w in range(t * 5, t * 5 + 10):  # every word is shared by two tags
        row[w % VOCAB] += 3.0
    s = sum(row)
    EMIT.append([p / s for p in row])


def draw(p):
    u, c = rng.random(), 0.0
    for i, q in enumerate(p):
        c += q
        if u < c:
            return i
    return len(p) - 1


def sample_seq():
    tags, words = [], []
    t = rng.randrange(NTAG)
    for _ in range(SEQ):
        tags.append(t)
        words.append(draw(EMIT[t]))
        t = draw(TRANS[t])
    return words, tags


def make(n):
    data = [sample_seq() for _ in range(n)]
    return mx.array([w for w, _ in data]), mx.array([t for _, t in data])


class CRFTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, EMB)
        self.ctx = nn.Conv1d(EMB, EMB, kernel_size=3, padding=1)
        self.unary = nn.Linear(EMB, NTAG)
        self.trans = mx.zeros((NTAG, NTAG))  # trans[i, j]: score of i -> j
        self.start = mx.zeros((NTAG,))
        self.stop = mx.zeros((NTAG,))

    def emissions(self, words):
        h = self.emb(words)
        h = h + nn.relu(self.ctx(h))
        return self.unary(h)  # (B, L, NTAG)

    def log_partition(self, em):
        alpha = self.start + em[:, 0]
        for t in range(1, em.shape[1]):
            alpha = mx.logsumexp(alpha[:, :, None] + self.trans[None], axis=1) + em[:, t]
        return mx.logsumexp(alpha + self.stop, axis=1)

    def gold_score(self, em, tags):
        e = mx.take_along_axis(em, tags[..., None], axis=-1).squeeze(-1).sum(axis=1)
        tr = self.trans[tags[:, :-1], tags[:, 1:]].sum(axis=1)
        return e + tr + self.start[tags[:, 0]] + self.stop[tags[:, -1]]

    def nll(self, words, tags):
        em = self.emissions(words)
        return (self.log_partition(em) - self.gold_score(em, tags)).mean() / words.shape[1]

    def viterbi(self, words):
        em = self.emissions(words)
        score = self.start + em[:, 0]
        back = []
        for t in range(1, em.shape[1]):
            cand = score[:, :, None] + self.trans[None]
            back.append(mx.argmax(cand, axis=1))
            score = mx.max(cand, axis=1) + em[:, t]
        best = mx.argmax(score + self.stop, axis=1)
        path = [best]
        for bp in reversed(back):
            best = mx.take_along_axis(bp, best[:, None], axis=1).squeeze(1)
            path.append(best)
        return mx.stack(path[::-1], axis=1), mx.argmax(em, axis=-1)


train_w, train_t = make(1500)
val_w, val_t = make(400)

model = CRFTagger()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=0.003)
vg = nn.value_and_grad(model, lambda m, w, t: m.nll(w, t))

BS, EPOCHS = 50, 24
t0 = time.time()


def report(epoch, train_nll):
    vit, greedy = model.viterbi(val_w)
    acc_v = (vit == val_t).astype(mx.float32).mean().item()
    acc_g = (greedy == val_t).astype(mx.float32).mean().item()
    val_nll = model.nll(val_w, val_t).item()
    print("---")
    print(f"epoch: {epoch}")
    print(f"train_nll_per_token: {train_nll}")
    print(f"val_nll_per_token: {val_nll:.4f}")
    print(f"val_tag_accuracy:")
    print(f"  viterbi: {acc_v:.4f}")
    print(f"  unary_argmax: {acc_g:.4f}")
    print(f"wall_seconds: {time.time() - t0:.1f}")


report(0, "null")
for epoch in range(1, EPOCHS + 1):
    perm = mx.random.permutation(train_w.shape[0])
    tot, nb = 0.0, 0
    for i in range(0, train_w.shape[0], BS):
        idx = perm[i:i + BS]
        loss, g = vg(model, train_w[idx], train_t[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    if epoch in (1, 2, 3) or epoch % 3 == 0:
        report(epoch, f"{tot / nb:.4f}")
print("...")
