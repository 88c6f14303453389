"""Cable office: compress wordy shipping notices into cablegram form.

source : "kindly note that on friday at nine the cargo will arrive at the quay thank you"
target : "cargo arrives quay friday nine stop"

Conv encoder (GLU blocks) + one pre-LN transformer decoder layer with
cross-attention.  Label-smoothed cross-entropy, inverse-sqrt schedule with
warm-up from lr 0, checkpoint at epoch 3 and resume into a fresh process
state, beam-search evaluation against a lead-N baseline at the end.
Logs are written in the fairseq pipe format (losses in base 2).
"""
import math
import os
import random
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 363
random.seed(SEED)
mx.random.seed(SEED)

# ---------------------------------------------------------------- data
SUBJ = ["ship", "cargo", "captain", "crew", "mail", "pilot", "tug", "ferry"]
VERB = {  # wordy phrase -> cable word
    "will arrive at": "arrives",
    "has departed from": "departed",
    "is delayed at": "delayed",
    "requires repairs at": "repairs",
    "will anchor off": "anchors",
    "is waiting at": "waiting",
}
PLACE = ["harbour", "dock", "quay", "pier", "bay", "lighthouse", "wharf"]
DAY = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
HOUR = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
        "ten", "eleven", "twelve"]
OPEN = ["", "please be advised that", "kindly note that", "we wish to inform you that",
        "for your information", "as previously arranged"]
CLOSE = ["", "thank you", "yours faithfully", "regards to all", "please acknowledge"]
URGENT = "as a matter of urgency"


def make_pair(rng):
    s, v, p, d, h = (rng.choice(SUBJ), rng.choice(list(VERB)), rng.choice(PLACE),
                     rng.choice(DAY), rng.choice(HOUR))
    urgent = rng.random() < 0.25
    main = f"the {s} {v} the {p}"
    when = f"on {d} at {h}"
    body = f"{when} {main}" if rng.random() < 0.4 else f"{main} {when}"
    parts = [rng.choice(OPEN)]
    if urgent:
        parts.append(URGENT)
    parts += [body, rng.choice(CLOSE)]
    src = " ".join(x for x in parts if x).split()
    tgt = (["urgent"] if urgent else []) + [s, VERB[v], p, d, h, "stop"]
    return src, tgt


rng = random.Random(SEED)
train_pairs = [make_pair(rng) for _ in range(2000)]
valid_pairs = [make_pair(rng) for _ in range(200)]

words = sorted({w for s, t in train_pairs + valid_pairs for w in s + t})
itos = ["<pad>", "<s>", "</s>"] + words
stoi = {w: i for i, w in enumerate(itos)}
PAD, BOS, EOS = 0, 1, 2
V = len(itos)
MAX_SRC = max(len(s) for s, _ in train_pairs + valid_pairs)
MAX_TGT = max(len(t) for _, t in train_pairs + valid_pairs) + 1


def encode(pairs):
    n = len(pairs)
    src = [[PAD] * MAX_SRC for _ in range(n)]
    dec_in = [[PAD] * MAX_TGT for _ in range(n)]
    dec_out = [[PAD] * MAX_TGT for _ in range(n)]
    for i, (s, t) in enumerate(pairs):
        ids = [stoi[w] for w in s]
        src[i][: len(ids)] = ids
        tids = [stoi[w] for w in t]
        dec_in[i][: len(tids) + 1] = [BOS] + tids
        dec_out[i][: len(tids) + 1] = tids + [EOS]
    return mx.array(src), mx.array(dec_in), mx.array(dec_out)


tr_src, tr_din, tr_dout = encode(train_pairs)
va_src, va_din, va_dout = encode(valid_pairs)


# ---------------------------------------------------------------- model
class GLUBlock(nn.Module):
    def __init__(self, d, k=3):
        super().__init__()
        self.conv = nn.Conv1d(d, 2 * d, kernel_size=k, padding=k // 2)

    def __call__(self, x, keep):
        a, b = mx.split(self.conv(x), 2, axis=-1)
        return ((x + a * mx.sigmoid(b)) * math.sqrt(0.5)) * keep


class DecoderLayer(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.self_attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.cross_attn = nn.MultiHeadAttention(d, heads)
        self.ln3 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, 4 * d)
        self.ff2 = nn.Linear(4 * d, d)

    def __call__(self, y, memory, self_mask, mem_mask):
        h = self.ln1(y)
        y = y + self.self_attn(h, h, h, self_mask)
        h = self.ln2(y)
        y = y + self.cross_attn(h, memory, memory, mem_mask)
        h = self.ln3(y)
        return y + self.ff2(nn.gelu(self.ff1(h)))


class CableNet(nn.Module):
    def __init__(self, vocab, d=32, heads=4, max_len=32):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.src_pos = nn.Embedding(max_len, d)
        self.tgt_pos = nn.Embedding(max_len, d)
        self.enc = [GLUBlock(d), GLUBlock(d)]
        self.dec = DecoderLayer(d, heads)
        self.ln_out = nn.LayerNorm(d)
        self.out = nn.Linear(d, vocab)
        self.scale = math.sqrt(d)

    def encode(self, src):
        keep = (src != PAD)[..., None].astype(mx.float32)
        pos = mx.arange(src.shape[1])
        x = (self.embed(src) * self.scale + self.src_pos(pos)) * keep
        for blk in self.enc:
            x = blk(x, keep)
        mem_mask = mx.where(src == PAD, -1e9, 0.0)[:, None, None, :]
        return x, mem_mask

    def decode(self, dec_in, memory, mem_mask):
        T = dec_in.shape[1]
        pos = mx.arange(T)
        y = self.embed(dec_in) * self.scale + self.tgt_pos(pos)
        causal = nn.MultiHeadAttention.create_additive_causal_mask(T)
        y = self.dec(y, memory, causal, mem_mask)
        return self.out(self.ln_out(y))

    def __call__(self, src, dec_in):
        memory, mem_mask = self.encode(src)
        return self.decode(dec_in, memory, mem_mask)


EPS_LS = 0.1
LN2 = math.log(2.0)


def loss_terms(model, src, din, dout):
    logits = model(src, din)
    mask = (dout != PAD).astype(mx.float32)
    ntok = mask.sum()
    nll = nn.losses.cross_entropy(logits, dout, reduction="none")
    smoothed = nn.losses.cross_entropy(logits, dout, label_smoothing=EPS_LS, reduction="none")
    return (smoothed * mask).sum() / ntok, (nll * mask).sum() / ntok, ntok


def train_loss(model, src, din, dout):
    return loss_terms(model, src, din, dout)[0]


# ---------------------------------------------------------------- schedule
PEAK_LR, WARMUP = 2e-3, 100


def inverse_sqrt(step):
    step = step.astype(mx.float32) if isinstance(step, mx.array) else mx.array(step, mx.float32)
    warm = PEAK_LR * step / WARMUP
    decay = PEAK_LR * mx.sqrt(WARMUP / mx.maximum(step, 1.0))
    return mx.where(step < WARMUP, warm, decay)


def build():
    model = CableNet(V, max_len=max(MAX_SRC, MAX_TGT) + 1)
    opt = optim.Adam(learning_rate=inverse_sqrt, betas=[0.9, 0.98], eps=1e-8)
    return model, opt


# ---------------------------------------------------------------- eval
def validate(model):
    model.eval()
    s_sum = n_sum = tok = 0.0
    for i in range(0, len(valid_pairs), 200):
        s, n, t = loss_terms(model, va_src[i:i + 200], va_din[i:i + 200], va_dout[i:i + 200])
        t = t.item()
        s_sum += s.item() * t
        n_sum += n.item() * t
        tok += t
    model.train()
    return s_sum / tok / LN2, n_sum / tok / LN2


def greedy(model, src):
    memory, mem_mask = model.encode(src)
    seq = mx.full((src.shape[0], 1), BOS, dtype=mx.int32)
    for _ in range(MAX_TGT):
        nxt = mx.argmax(model.decode(seq, memory, mem_mask)[:, -1], axis=-1)
        seq = mx.concatenate([seq, nxt[:, None].astype(mx.int32)], axis=1)
    return [strip(row) for row in seq[:, 1:].tolist()]


def beam(model, src_row, k=4, alpha=1.0):
    memory, mem_mask = model.encode(src_row[None])
    beams = [([BOS], 0.0)]
    done = []
    for _ in range(MAX_TGT):
        seqs = mx.array([b[0] for b in beams])
        mem = mx.repeat(memory, len(beams), axis=0)
        mm = mx.repeat(mem_mask, len(beams), axis=0)
        logp = nn.log_softmax(model.decode(seqs, mem, mm)[:, -1], axis=-1)
        top = mx.argsort(-logp, axis=-1)[:, :k]
        top_lp = mx.take_along_axis(logp, top, axis=-1)
        cand = []
        for bi, (toks, sc) in enumerate(beams):
            for j, lp in zip(top[bi].tolist(), top_lp[bi].tolist()):
                cand.append((toks + [j], sc + lp))
        cand.sort(key=lambda c: -c[1])
        beams = []
        for toks, sc in cand:
            if toks[-1] == EOS:
                done.append((toks, sc / (len(toks) - 1) ** alpha))
            else:
                beams.append((toks, sc))
            if len(beams) == k:
                break
        if len(done) >= k or not beams:
            break
    done += [(t, s / (len(t) - 1) ** alpha) for t, s in beams]
    best = max(done, key=lambda c: c[1])[0]
    return strip(best[1:])


def strip(ids):
    out = []
    for t in ids:
        if t == EOS:
            break
        if t not in (PAD, BOS):
            out.append(itos[t])
    return out


def unigram_f1(hyp, ref):
    common = sum(min(hyp.count(w), ref.count(w)) for w in set(hyp))
    if common == 0:
        return 0.0
    p, r = common / len(hyp), common / len(ref)
    return 2 * p * r / (p + r)


def score(hyps, pairs):
    em = sum(h == t for h, (_, t) in zip(hyps, pairs)) / len(pairs)
    f1 = sum(unigram_f1(h, t) for h, (_, t) in zip(hyps, pairs)) / len(pairs)
    return 100 * em, 100 * f1


# ---------------------------------------------------------------- train
BSZ, EPOCHS, SAVE_AFTER = 32, 5, 3
STEPS_PER_EPOCH = len(train_pairs) // BSZ
CKPT_DIR = tempfile.mkdtemp(None, "cable_ckpt_")


def run_epochs(model, opt, first, last, best):
    loss_and_grad = nn.value_and_grad(model, train_loss)
    for epoch in range(first, last + 1):
        t0 = time.perf_counter()
        perm = mx.array(random.Random(SEED + epoch).sample(range(len(train_pairs)), len(train_pairs)))
        run, ntok = 0.0, 0
        for b in range(STEPS_PER_EPOCH):
            idx = perm[b * BSZ:(b + 1) * BSZ]
            loss, grads = loss_and_grad(model, tr_src[idx], tr_din[idx], tr_dout[idx])
            grads, gnorm = optim.clip_grad_norm(grads, 1.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            ntok += 1
        upd = int(opt.state["step"].item())
        lr = inverse_sqrt(upd).item()
        wps = STEPS_PER_EPOCH * BSZ * MAX_SRC / (time.perf_counter() - t0)
        print(f"| epoch {epoch:03d} | loss {run / ntok / LN2:.3f} | wps {wps:.0f} "
              f"| lr {lr:.6f} | gnorm {gnorm.item():.3f} | num_updates {upd}")
        vloss, vnll = validate(model)
        best = min(best, vloss)
        em, f1 = score(greedy(model, va_src), valid_pairs)
        print(f"| epoch {epoch:03d} | valid on 'valid' subset | loss {vloss:.3f} | nll_loss {vnll:.3f} "
              f"| ppl {2 ** vnll:.2f} | greedy_em {em:.1f} | num_updates {upd} | best_loss {best:.3f}")
    return best


model, opt = build()
nparams = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"| [src] dictionary: {V} types (shared) | train {len(train_pairs)} | valid {len(valid_pairs)}")
print(f"| model cablenet (conv-glu encoder, 1 transformer decoder layer), num. model params: {nparams}")
print(f"| criterion label_smoothed_cross_entropy eps={EPS_LS} | lr inverse_sqrt warmup_init_lr=0 "
      f"warmup_updates={WARMUP} peak={PEAK_LR}")

# one audit step on the first batch: every leaf must get a gradient, and with lr 0 nothing moves
loss_and_grad = nn.value_and_grad(model, train_loss)
_, g0 = loss_and_grad(model, tr_src[:BSZ], tr_din[:BSZ], tr_dout[:BSZ])
zero_leaves = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
print(f"| grad check: {len(tree_flatten(g0))} leaves, all-zero leaves: {zero_leaves}")

v0, n0 = validate(model)
print(f"| epoch 000 | valid on 'valid' subset | loss {v0:.3f} | nll_loss {n0:.3f} | ppl {2 ** n0:.2f} "
      f"| uniform log2(V) {math.log2(V):.3f}")

best = run_epochs(model, opt, 1, SAVE_AFTER, float("inf"))

# --- checkpoint_last, then drop everything and resume as a new run would
wpath = os.path.join(CKPT_DIR, "checkpoint_last.safetensors")
opath = os.path.join(CKPT_DIR, "checkpoint_last.opt.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)), metadata={"epoch": str(SAVE_AFTER),
                                                                      "best_loss": repr(best)})
print(f"| saved checkpoint {wpath} (epoch {SAVE_AFTER} @ {int(opt.state['step'].item())} updates)")
del model, opt

model, opt = build()
model.load_weights(wpath)
ostate, meta = mx.load(opath, return_metadata=True)
opt.state = tree_unflatten(list(ostate.items()))
best = float(meta["best_loss"])
print(f"| loaded checkpoint {wpath} (epoch {meta['epoch']} @ {int(opt.state['step'].item())} updates)")
vr, nr = validate(model)
print(f"| resumed valid loss {vr:.3f} (best so far {best:.3f})")

best = run_epochs(model, opt, SAVE_AFTER + 1, EPOCHS, best)

# ---------------------------------------------------------------- final report
model.eval()
t0 = time.perf_counter()
N_BEAM = 100
beam_h = [beam(model, va_src[i]) for i in range(N_BEAM)]
greedy_h = greedy(model, va_src)
lead_h = [s[:6] + ["stop"] for s, _ in valid_pairs]
print(f"| generate valid[:{N_BEAM}] with beam=4 lenpen=1.0 ({time.perf_counter() - t0:.1f}s)")
for name, hyps in (("lead-6", lead_h), ("greedy", greedy_h), ("beam4", beam_h)):
    em, f1 = score(hyps[:N_BEAM], valid_pairs[:N_BEAM])
    print(f"| {name:7s} | exact {em:5.1f}% | unigram F1 {f1:5.1f}")
for i in range(3):
    print(f"S-{i}\t{' '.join(valid_pairs[i][0])}")
    print(f"T-{i}\t{' '.join(valid_pairs[i][1])}")
    print(f"H-{i}\t{' '.join(beam_h[i])}")
print(f"| done | best_loss {best:.3f}")
