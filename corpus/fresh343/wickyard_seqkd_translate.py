"""Lamplighter guild notices: verb-final "lantern dialect" -> verb-first harbour speech.

Phase 1 trains an attention GRU translator (the teacher) on human references, where a
few source words have two equally common renderings.  Phase 2 is sequence-level
knowledge distillation: the teacher's greedy outputs replace the references and a
smaller GRU translator without attention (the student) is trained on them.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

# ---------------------------------------------------------------- vocabularies
SRC_NUM = ["un", "du", "tri", "kvar", "kvin"]
SRC_NOUN = ["lampo", "ŝipo", "ponto", "turo", "boato", "muro"]
SRC_ADJ = ["granda", "malhela", "ruĝa", "nova", "malnova"]
SRC_VERB = ["lumigu", "riparu", "kontrolu", "pentru"]
SRC_ADV = ["nun", "morgaŭ", "vespere"]

TGT_NUM = {"un": ["one"], "du": ["two"], "tri": ["three"], "kvar": ["four"], "kvin": ["five"]}
TGT_NOUN = {"lampo": ["lamps", "lanterns"], "ŝipo": ["ships", "vessels"], "ponto": ["bridges"],
            "turo": ["towers"], "boato": ["boats"], "muro": ["walls"]}
TGT_ADJ = {"granda": ["big", "large"], "malhela": ["dark"], "ruĝa": ["red"],
           "nova": ["new", "fresh"], "malnova": ["old"]}
TGT_VERB = {"lumigu": ["light"], "riparu": ["repair", "mend"], "kontrolu": ["check"],
            "pentru": ["paint"]}
TGT_ADV = {"nun": ["now"], "morgaŭ": ["tomorrow"], "vespere": ["tonight"]}

PAD, BOS, EOS = 0, 1, 2
src_words = ["<pad>", "<bos>", "<eos>"] + SRC_NUM + SRC_NOUN + SRC_ADJ + SRC_VERB + SRC_ADV
tgt_words = ["<pad>", "<bos>", "<eos>"]
for table in (TGT_NUM, TGT_NOUN, TGT_ADJ, TGT_VERB, TGT_ADV):
    for alts in table.values():
        for w in alts:
            if w not in tgt_words:
                tgt_words.append(w)
S_ID = {w: i for i, w in enumerate(src_words)}
T_ID = {w: i for i, w in enumerate(tgt_words)}
SRC_LEN, TGT_LEN = 6, 7  # 5 words + EOS (+ BOS on the decoder side)


def make_pairs(n, rng):
    """Source: NUM NOUN ADJ VERB [ADV]; target: VERB NUM ADJ NOUN [ADV]."""
    src = np.full((n, SRC_LEN), PAD, np.int32)
    tgt = np.full((n, TGT_LEN - 1), PAD, np.int32)
    allowed = []  # per sentence: list of sets of acceptable target ids per position
    for i in range(n):
        num, noun, adj, verb = (rng.choice(SRC_NUM), rng.choice(SRC_NOUN),
                                rng.choice(SRC_ADJ), rng.choice(SRC_VERB))
        adv = rng.choice(SRC_ADV) if rng.random() < 0.5 else None
        s = [num, noun, adj, verb] + ([adv] if adv else [])
        t_alts = [TGT_VERB[verb], TGT_NUM[num], TGT_ADJ[adj], TGT_NOUN[noun]]
        if adv:
            t_alts.append(TGT_ADV[adv])
        t = [alts[rng.integers(len(alts))] for alts in t_alts]
        src[i, : len(s)] = [S_ID[w] for w in s]
        src[i, len(s)] = EOS
        tgt[i, : len(t)] = [T_ID[w] for w in t]
        tgt[i, len(t)] = EOS
        allowed.append([{T_ID[w] for w in alts} for alts in t_alts] + [{EOS}])
    return src, tgt, allowed


def entropy_floor(tgt, allowed):
    """Mean per-token cross entropy of a perfect translator on these references."""
    nats, toks = 0.0, 0
    for sets in allowed:
        for s in sets:
            nats += math.log(len(s))
            toks += 1
    return nats / toks


# ---------------------------------------------------------------- models
class AttnTranslator(nn.Module):
    def __init__(self, vs, vt, d, h):
        super().__init__()
        self.src_emb = nn.Embedding(vs, d)
        self.tgt_emb = nn.Embedding(vt, d)
        self.enc = nn.GRU(d, h)
        self.dec = nn.GRU(d, h)
        self.mix = nn.Linear(2 * h, h)
        self.out = nn.Linear(h, vt)

    def encode(self, src):
        states = self.enc(self.src_emb(src))
        lengths = (src != PAD).sum(axis=1) - 1  # index of EOS
        last = mx.take_along_axis(states, lengths[:, None, None], axis=1)[:, 0]
        return states, last

    def readout(self, dec_states, enc_states, src):
        scores = dec_states @ enc_states.transpose(0, 2, 1)
        scores = mx.where((src != PAD)[:, None, :], scores, -1e9)
        ctx = mx.softmax(scores, axis=-1) @ enc_states
        return self.out(mx.tanh(self.mix(mx.concatenate([dec_states, ctx], axis=-1))))

    def __call__(self, src, dec_in):
        enc_states, last = self.encode(src)
        dec_states = self.dec(self.tgt_emb(dec_in), last)
        return self.readout(dec_states, enc_states, src)

    def greedy(self, src, steps):
        enc_states, h = self.encode(src)
        tok = mx.full((src.shape[0], 1), BOS, mx.int32)
        outs = []
        for _ in range(steps):
            h_seq = self.dec(self.tgt_emb(tok), h)
            h = h_seq[:, -1]
            tok = self.readout(h_seq, enc_states, src).argmax(axis=-1).astype(mx.int32)
            outs.append(tok)
        return mx.concatenate(outs, axis=1)


class PlainTranslator(nn.Module):
    def __init__(self, vs, vt, d, h):
        super().__init__()
        self.src_emb = nn.Embedding(vs, d)
        self.tgt_emb = nn.Embedding(vt, d)
        self.enc = nn.GRU(d, h)
        self.dec = nn.GRU(d, h)
        self.out = nn.Linear(h, vt)

    def encode(self, src):
        states = self.enc(self.src_emb(src))
        lengths = (src != PAD).sum(axis=1) - 1
        return mx.take_along_axis(states, lengths[:, None, None], axis=1)[:, 0]

    def __call__(self, src, dec_in):
        return self.out(self.dec(self.tgt_emb(dec_in), self.encode(src)))

    def greedy(self, src, steps):
        h = self.encode(src)
        tok = mx.full((src.shape[0], 1), BOS, mx.int32)
        outs = []
        for _ in range(steps):
            h_seq = self.dec(self.tgt_emb(tok), h)
            h = h_seq[:, -1]
            tok = self.out(h_seq).argmax(axis=-1).astype(mx.int32)
            outs.append(tok)
        return mx.concatenate(outs, axis=1)


def shift_right(tgt):
    return mx.concatenate([mx.full((tgt.shape[0], 1), BOS, mx.int32), tgt[:, :-1]], axis=1)


def masked_ce(model, src, tgt):
    logits = model(src, shift_right(tgt))
    mask = (tgt != PAD).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
    return (ce * mask).sum() / mask.sum()


def cut_after_eos(pred):
    pred = np.array(pred)
    for row in pred:
        hit = np.where(row == EOS)[0]
        if len(hit):
            row[hit[0] + 1:] = PAD
    return pred


def score(pred, allowed):
    """Token accuracy against the set of acceptable words, and exact sentence match."""
    pred = cut_after_eos(pred)
    ok_tok, n_tok, ok_sent = 0, 0, 0
    for row, sets in zip(pred, allowed):
        hits = [int(row[j]) in s for j, s in enumerate(sets)]
        ok_tok += sum(hits)
        n_tok += len(sets)
        ok_sent += all(hits) and (len(sets) == TGT_LEN - 1 or row[len(sets)] == PAD)
    return 100.0 * ok_tok / n_tok, 100.0 * ok_sent / len(allowed)


def n_params(m):
    return sum(v.size for _, v in tree_flatten(m.trainable_parameters()))


def train(tag, model, opt, src, tgt, steps, batch, rng, report, clip_value=None):
    loss_and_grad = nn.value_and_grad(model, masked_ce)
    state = [model.state, opt.state]

    def step_fn(s, t):
        loss, grads = loss_and_grad(model, s, t)
        if clip_value is not None:
            grads = tree_map(lambda g: mx.clip(g, -clip_value, clip_value), grads)
        opt.update(model, grads)
        return loss

    run, seen = 0.0, 0
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, src.shape[0], batch))
        loss = step_fn(src[idx], tgt[idx])
        mx.eval(state, loss)
        run += loss.item()
        seen += 1
        if step % report == 0:
            lr = opt.learning_rate.item()
            print(f"  {tag:<11} step {step:4d}  lr {lr:.2e}  train_ce {run / seen:.4f}")
            run, seen = 0.0, 0


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    src_np, tgt_np, _ = make_pairs(6000, rng)
    vsrc_np, vtgt_np, v_allowed = make_pairs(800, rng)
    src, tgt = mx.array(src_np), mx.array(tgt_np)
    vsrc, vtgt = mx.array(vsrc_np), mx.array(vtgt_np)
    floor = entropy_floor(vtgt_np, v_allowed)

    print(f"pairs train {len(src_np)}  valid {len(vsrc_np)}  src vocab {len(src_words)}  tgt vocab {len(tgt_words)}")
    print(f"reference entropy floor {floor:.4f} nats/token (two renderings for lamps, ships, big, new, repair)")
    print(f"uniform-guess ce {math.log(len(tgt_words)):.4f} nats/token")

    # ------------------------------------------------------------ phase 1: teacher
    print("== phase 1: teacher (GRU + dot attention) on human references ==")
    teacher = AttnTranslator(len(src_words), len(tgt_words), 24, 48)
    mx.eval(teacher.parameters())
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, 40), optim.cosine_decay(4e-3, 260, 1e-4)], [40])
    t_opt = optim.Adam(learning_rate=sched)
    t_opt.init(teacher.trainable_parameters())
    print(f"  teacher params {n_params(teacher)}")
    train("teacher", teacher, t_opt, src, tgt, 300, 64, rng, 50)
    t_val = masked_ce(teacher, vsrc, vtgt).item()
    t_tok, t_sent = score(teacher.greedy(vsrc, TGT_LEN - 1), v_allowed)
    print(f"  teacher valid_ce {t_val:.4f} (floor {floor:.4f})  word_acc {t_tok:.1f}%  sentence_ok {t_sent:.1f}%")

    # ------------------------------------------------------------ distilled corpus
    distilled = cut_after_eos(teacher.greedy(src, TGT_LEN - 1))
    changed = float((distilled != tgt_np).any(axis=1).mean()) * 100
    print(f"distilled corpus: {len(distilled)} teacher translations, {changed:.1f}% differ from the human reference")
    d_tgt = mx.array(distilled.astype(np.int32))

    # ------------------------------------------------------------ phase 2: students
    results = {}
    for name, targets in (("student_ref", tgt), ("student_kd", d_tgt)):
        print(f"== phase 2: {name} (GRU, no attention) ==")
        mx.random.seed(11)
        student = PlainTranslator(len(src_words), len(tgt_words), 24, 48)
        mx.eval(student.parameters())
        s_opt = optim.Adamax(learning_rate=1e-2)
        s_opt.init(student.trainable_parameters())
        if name == "student_ref":
            print(f"  student params {n_params(student)}")
        train(name, student, s_opt, src, targets, 300, 64, np.random.default_rng(3), 75, clip_value=1.0)
        own_ce = masked_ce(student, src[:800], targets[:800]).item()
        ref_ce = masked_ce(student, vsrc, vtgt).item()
        tok, sent = score(student.greedy(vsrc, TGT_LEN - 1), v_allowed)
        results[name] = (own_ce, ref_ce, tok, sent)
        print(f"  {name} ce_on_own_targets {own_ce:.4f}  valid_ce_vs_refs {ref_ce:.4f}  "
              f"word_acc {tok:.1f}%  sentence_ok {sent:.1f}%")

    print("== summary ==")
    print(f"  {'model':<12}{'valid_ce':>10}{'word_acc%':>11}{'sentence%':>11}")
    print(f"  {'teacher':<12}{t_val:>10.4f}{t_tok:>11.1f}{t_sent:>11.1f}")
    for name, (_, ref_ce, tok, sent) in results.items():
        print(f"  {name:<12}{ref_ce:>10.4f}{tok:>11.1f}{sent:>11.1f}")
    print(f"  floor ce {floor:.4f}; elapsed {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
