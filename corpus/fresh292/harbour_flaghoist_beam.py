"""Harbour signal station: learn the code book of flag hoists.

Each of 24 call signs is answered by a standing hoist of 6 flags (10 flag
shapes).  Log books are copied by hand, so 12% of the flags in the
training log are miscopied.  A small causal transformer learns
P(next flag | call sign, flags so far); inside the run we decode the
hoist for every call sign greedily and with a width-4 beam search.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

N_CALLS, N_FLAGS, HOIST_LEN = 24, 10, 6
VOCAB = N_CALLS + N_FLAGS
SEQ = 1 + HOIST_LEN
MISCOPY = 0.12
STEPS, BATCH, RESUME_AT = 300, 64, 150
REPORT_AT = {0, 1, 40, 100, 150, 151, 220, 300}

rng = np.random.default_rng(7)
codebook = rng.integers(0, N_FLAGS, size=(N_CALLS, HOIST_LEN))


def make_log(n):
    calls = rng.integers(0, N_CALLS, size=n)
    flags = codebook[calls].copy()
    slip = rng.random(flags.shape) < MISCOPY
    flags[slip] = rng.integers(0, N_FLAGS, size=int(slip.sum()))
    return np.concatenate([calls[:, None], N_CALLS + flags], axis=1).astype(np.int32)


train_log = make_log(3000)
val_log = make_log(600)


class HoistModel(nn.Module):
    def __init__(self, d=48, heads=4, p_drop=0.2):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(SEQ, d)
        self.ln1 = nn.LayerNorm(d)
        self.att = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, 4 * d)
        self.ff2 = nn.Linear(4 * d, d)
        self.drop = nn.Dropout(p_drop)
        self.lnf = nn.LayerNorm(d)
        self.head = nn.Linear(d, VOCAB)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        a = self.ln1(h)
        h = h + self.drop(self.att(a, a, a, mask))
        h = h + self.drop(self.ff2(nn.gelu(self.ff1(self.ln2(h)))))
        return self.head(self.lnf(h))


def seq_loss(model, seqs):
    logits = model(seqs[:, :-1])
    return nn.losses.cross_entropy(logits, seqs[:, 1:], reduction="mean")


def schedule():
    warm = optim.linear_schedule(0.0, 3e-3, 40)
    cool = optim.cosine_decay(3e-3, STEPS - 40, 1e-4)
    return optim.join_schedules([warm, cool], [40])


def flag_logprobs(model, prefixes):
    logits = model(prefixes)[:, -1, N_CALLS:]
    return logits - mx.logsumexp(logits, axis=-1, keepdims=True)


def greedy(model):
    seqs = mx.arange(N_CALLS)[:, None]
    for _ in range(HOIST_LEN):
        nxt = mx.argmax(flag_logprobs(model, seqs), axis=-1) + N_CALLS
        seqs = mx.concatenate([seqs, nxt[:, None]], axis=1)
    return np.array(seqs[:, 1:]) - N_CALLS


def beam(model, width=4):
    best, scores = [], []
    for c in range(N_CALLS):
        beams = [([c], 0.0)]
        for _ in range(HOIST_LEN):
            prefixes = mx.array([b[0] for b in beams])
            lp = np.array(flag_logprobs(model, prefixes))
            cand = []
            for (toks, s), row in zip(beams, lp):
                for f in np.argsort(-row)[:width]:
                    cand.append((toks + [N_CALLS + int(f)], s + float(row[f])))
            cand.sort(key=lambda t: -t[1])
            beams = cand[:width]
        best.append(np.array(beams[0][0][1:]) - N_CALLS)
        scores.append(beams[0][1])
    return np.stack(best), float(np.mean(scores))


# reference numbers that do not depend on the model
counts = np.bincount(train_log[:, 1:].ravel() - N_CALLS, minlength=N_FLAGS)
probs = counts / counts.sum()
unigram_ce = float(-np.mean(np.log(probs[val_log[:, 1:] - N_CALLS])))
p_ok = 1 - MISCOPY + MISCOPY / N_FLAGS
floor_ce = float(-(p_ok * np.log(p_ok) + (N_FLAGS - 1) * (MISCOPY / N_FLAGS) * np.log(MISCOPY / N_FLAGS)))
modal = np.array([np.bincount(codebook[:, j], minlength=N_FLAGS).argmax() for j in range(HOIST_LEN)])
modal_exact = 100.0 * float(np.mean(np.all(codebook == modal[None], axis=1)))


def report(tag, step, model, opt, train_ce):
    model.eval()
    v = seq_loss(model, mx.array(val_log)).item()
    g = greedy(model)
    b, bscore = beam(model)
    model.train()
    g_ok = 100.0 * float(np.mean(np.all(g == codebook, axis=1)))
    b_ok = 100.0 * float(np.mean(np.all(b == codebook, axis=1)))
    flag_ok = 100.0 * float(np.mean(b == codebook))
    lr = float(opt.learning_rate) if step > 0 else 0.0
    tr = f"{train_ce:7.4f}" if train_ce is not None else "      -"
    print(f"[{tag:<7}] step {step:>3} | lr {lr:.2e} | train_ce {tr} | val_ce {v:.4f} "
          f"| greedy_exact {g_ok:5.1f}% | beam4_exact {b_ok:5.1f}% | beam4_flags {flag_ok:5.1f}% "
          f"| beam4_logp {bscore:+.3f}", flush=True)


mx.random.seed(3)
model = HoistModel()
opt = optim.AdamW(learning_rate=schedule(), weight_decay=0.01)
loss_and_grad = nn.value_and_grad(model, seq_loss)

print(f"[setup  ] calls {N_CALLS} | flags {N_FLAGS} | hoist {HOIST_LEN} | train {len(train_log)} | val {len(val_log)} "
      f"| miscopy {MISCOPY:.0%}")
print(f"[ref    ] unigram_ce {unigram_ce:.4f} | miscopy_floor_ce {floor_ce:.4f} | modal_hoist_exact {modal_exact:.1f}%")
report("start", 0, model, opt, None)

ckpt_dir = tempfile.mkdtemp(prefix="hoist_")
t0 = time.time()
window = []
step = 0
while step < STEPS:
    idx = rng.integers(0, len(train_log), size=BATCH)
    loss, grads = loss_and_grad(model, mx.array(train_log[idx]))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    step += 1
    window.append(loss.item())
    window = window[-20:]
    if step in REPORT_AT:
        report("train", step, model, opt, float(np.mean(window)))
    if step == RESUME_AT:
        model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        print(f"[ckpt   ] wrote {sorted(os.listdir(ckpt_dir))} at step {step}; rebuilding from disk", flush=True)
        del model, opt, loss_and_grad
        model = HoistModel()
        model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
        opt = optim.AdamW(learning_rate=schedule(), weight_decay=0.01)
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
        loss_and_grad = nn.value_and_grad(model, seq_loss)
        print(f"[resume ] optimizer step counter {int(opt.state['step'])}", flush=True)

print(f"[done   ] {STEPS} steps in {time.time() - t0:.1f}s")
