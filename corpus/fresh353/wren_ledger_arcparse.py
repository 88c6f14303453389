"""Arc-factored projective dependency parser for birders' field-notebook shorthand.

Each notebook line ("two juv wren flushed from alder near reedbed") gets a
dependency tree: every word picks its head word (or ROOT).  Trees come from a
small made-up grammar; where a preposition hangs (on the behaviour word or on
the species/habitat word just before it) is partly random, so even a perfect
parser tops out below 100% attachment.

Model: token + position embeddings -> 2-layer pre-norm transformer encoder ->
head/dependent projections -> bilinear arc score + signed-distance bias.
Training objective: exact tree-CRF negative log-likelihood over ALL projective
trees, log Z from Eisner's inside algorithm in log space (mx.logsumexp).
Decoding: Eisner max-product in NumPy.

Two length stages (6-word lines, then 9-word lines).  The NLL is reported per
line (summed over words), so it is larger for the longer lines.  Between the
stages the run is checkpointed (weights + optimizer state) and resumed into a
freshly built model and optimizer.
"""

import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
np.random.seed(SEED)
mx.random.seed(SEED)

# ----------------------------------------------------------------- vocabulary
WORDS = {
    "ROOT": ["<root>"],
    "DET": ["two", "a", "several", "one", "pair"],
    "ADJ": ["juv", "male", "pale", "distant", "noisy"],
    "NOUN": ["wren", "heron", "kestrel", "reedbed", "alder", "shingle", "teal", "gorse"],
    "VERB": ["flushed", "perched", "calling", "foraging", "circling"],
    "PREP": ["over", "near", "in", "above", "from"],
}
VOCAB = [w for cat in WORDS for w in WORDS[cat]]
W2I = {w: i for i, w in enumerate(VOCAB)}
# where a prepositional phrase hangs: probability of attaching to the noun just before it
P_NOUN_ATTACH = {"over": 0.1, "above": 0.1, "near": 0.7, "in": 0.6, "from": 0.3}


def sample_line(rng):
    """Return (words, heads) with heads[i] = index of the head (0 = ROOT), 1-based words."""
    words, heads = [], []

    def add(w, h):
        words.append(w)
        heads.append(h)
        return len(words)  # 1-based index of the word just added

    def noun_phrase(attach_to):
        """det? adj? noun ; det/adj hang on the noun (to their right)."""
        mods = []
        if rng.random() < 0.6:
            mods.append(add(rng.choice(WORDS["DET"]), -1))
        if rng.random() < 0.4:
            mods.append(add(rng.choice(WORDS["ADJ"]), -1))
        n = add(rng.choice(WORDS["NOUN"]), attach_to)
        for m in mods:
            heads[m - 1] = n
        return n

    subj = noun_phrase(-1)
    verb = add(rng.choice(WORDS["VERB"]), 0)
    heads[subj - 1] = verb
    last_noun = subj
    if rng.random() < 0.4:
        last_noun = noun_phrase(verb)
    for _ in range(rng.integers(0, 4)):
        p_word = rng.choice(WORDS["PREP"])
        target = last_noun if (rng.random() < P_NOUN_ATTACH[p_word] and last_noun == len(words)) else verb
        p = add(p_word, target)
        last_noun = noun_phrase(p)
    return words, heads


def make_set(rng, n_lines, length):
    X = np.zeros((n_lines, length + 1), dtype=np.int32)
    H = np.zeros((n_lines, length + 1), dtype=np.int32)
    k = 0
    while k < n_lines:
        words, heads = sample_line(rng)
        if len(words) != length:
            continue
        X[k, 0] = W2I["<root>"]
        X[k, 1:] = [W2I[w] for w in words]
        H[k, 1:] = heads
        k += 1
    return X, H


# ----------------------------------------------------------------- model
MAX_LEN = 12


class ArcScorer(nn.Module):
    def __init__(self, vocab, dims=48, arc_dims=32):
        super().__init__()
        self.tok = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(MAX_LEN, dims)
        self.enc = nn.TransformerEncoder(num_layers=2, dims=dims, num_heads=4, mlp_dims=96)
        self.head_proj = nn.Linear(dims, arc_dims)
        self.dep_proj = nn.Linear(dims, arc_dims)
        self.head_bias = nn.Linear(arc_dims, 1)
        self.dist = nn.Embedding(2 * MAX_LEN + 1, 1)
        self.U = mx.random.normal((arc_dims, arc_dims)) * (arc_dims ** -0.5)

    def __call__(self, x):
        B, n = x.shape
        h = self.tok(x) + self.pos(mx.arange(n))[None]
        h = self.enc(h, None)
        hd = nn.gelu(self.head_proj(h))              # [B, n, a]
        dp = nn.gelu(self.dep_proj(h))               # [B, n, a]
        s = (hd @ self.U) @ dp.transpose(0, 2, 1)   # [B, n(head), n(dep)]
        s = s + self.head_bias(hd)                   # bias per head word
        rel = mx.arange(n)[:, None] - mx.arange(n)[None, :] + MAX_LEN
        return s + self.dist(rel)[..., 0][None]


def log_partition(S):
    """Eisner inside algorithm, log space. S[b, h, m]; position 0 is ROOT."""
    B, n, _ = S.shape
    zero = mx.zeros((B,))
    Cr = {(s, s): zero for s in range(n)}
    Cl = {(s, s): zero for s in range(n)}
    Ir, Il = {}, {}
    for k in range(1, n):
        for s in range(0, n - k):
            t = s + k
            inner = mx.logsumexp(
                mx.stack([Cr[(s, r)] + Cl[(r + 1, t)] for r in range(s, t)]), axis=0)
            Ir[(s, t)] = inner + S[:, s, t]
            if s > 0:
                Il[(s, t)] = inner + S[:, t, s]
                Cl[(s, t)] = mx.logsumexp(
                    mx.stack([Cl[(s, r)] + Il[(r, t)] for r in range(s, t)]), axis=0)
            Cr[(s, t)] = mx.logsumexp(
                mx.stack([Ir[(s, r)] + Cr[(r, t)] for r in range(s + 1, t + 1)]), axis=0)
    return Cr[(0, n - 1)]


def gold_score(S, heads):
    # S[b, heads[b, m], m] for m >= 1
    per_dep = mx.take_along_axis(S, heads[:, None, :], axis=1)[:, 0, :]
    return per_dep[:, 1:].sum(axis=1)


def tree_nll(model, x, heads):
    S = model(x)
    return (log_partition(S) - gold_score(S, heads)).mean()


def eisner_decode(S):
    """Max-scoring projective tree for one sentence, S [n, n] numpy. Returns heads [n] (heads[0] = -1)."""
    n = S.shape[0]
    NEG = -1e18
    Cr = np.full((n, n), NEG); Cl = np.full((n, n), NEG)
    Ir = np.full((n, n), NEG); Il = np.full((n, n), NEG)
    bCr = np.zeros((n, n), int); bCl = np.zeros((n, n), int)
    bIr = np.zeros((n, n), int); bIl = np.zeros((n, n), int)
    for s in range(n):
        Cr[s, s] = Cl[s, s] = 0.0
    for k in range(1, n):
        for s in range(0, n - k):
            t = s + k
            vals = [Cr[s, r] + Cl[r + 1, t] for r in range(s, t)]
            r = int(np.argmax(vals)); best = vals[r]
            Ir[s, t] = best + S[s, t]; bIr[s, t] = s + r
            if s > 0:
                Il[s, t] = best + S[t, s]; bIl[s, t] = s + r
                vals = [Cl[s, q] + Il[q, t] for q in range(s, t)]
                q = int(np.argmax(vals)); Cl[s, t] = vals[q]; bCl[s, t] = s + q
            vals = [Ir[s, q] + Cr[q, t] for q in range(s + 1, t + 1)]
            q = int(np.argmax(vals)); Cr[s, t] = vals[q]; bCr[s, t] = s + 1 + q
    heads = -np.ones(n, dtype=int)

    def comp(s, t, right):
        if s == t:
            return
        if right:
            q = bCr[s, t]; inc(s, q, True); comp(q, t, True)
        else:
            q = bCl[s, t]; comp(s, q, False); inc(q, t, False)

    def inc(s, t, right):
        r = (bIr if right else bIl)[s, t]
        if right:
            heads[t] = s
        else:
            heads[s] = t
        comp(s, r, True); comp(r + 1, t, False)

    comp(0, n - 1, True)
    return heads


def attachment_scores(model, X, H):
    S = np.array(model(mx.array(X)))
    correct = total = 0
    for b in range(X.shape[0]):
        pred = eisner_decode(S[b])
        correct += int((pred[1:] == H[b, 1:]).sum())
        total += X.shape[1] - 1
    return 100.0 * correct / total


def next_word_baseline(H):
    # every word hangs on the word to its right (last word on ROOT)
    n = H.shape[1]
    guess = np.arange(2, n + 1); guess[-1] = 0
    return 100.0 * (H[:, 1:] == guess[None]).mean()


# ----------------------------------------------------------------- training
def lr_at(step):
    warm = 30
    if step < warm:
        return 2e-3 * step / warm            # step 0 runs at exactly 0
    frac = min(1.0, (step - warm) / (TOTAL_STEPS - warm))
    return 1e-4 + 0.5 * (2e-3 - 1e-4) * (1 + np.cos(np.pi * frac))


STAGES = [(6, 120), (9, 140)]     # (words per line, steps)
TOTAL_STEPS = sum(s for _, s in STAGES)
BATCH = 32
REPORT = 40

rng = np.random.default_rng(SEED)
data = {L: (make_set(rng, 1600, L), make_set(rng, 200, L)) for L, _ in STAGES}

model = ArcScorer(len(VOCAB))
opt = optim.AdamW(learning_rate=0.0, weight_decay=0.01)
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"parser · {n_params} parameters · vocab {len(VOCAB)} · stages "
      + ", ".join(f"{L} words x {n} steps" for L, n in STAGES))

loss_and_grad = nn.value_and_grad(model, tree_nll)
ckpt_dir = tempfile.mkdtemp(suffix="_arcparse")
t0 = time.time()
step = 0
for stage, (L, n_steps) in enumerate(STAGES, start=1):
    (Xtr, Htr), (Xdv, Hdv) = data[L]
    print(f"§ stage {stage} · {L}-word lines · {len(Xtr)} train / {len(Xdv)} dev · "
          f"next-word baseline {next_word_baseline(Hdv):.1f}% · UAS before this stage {attachment_scores(model, Xdv, Hdv):.1f}%")
    window = []
    for i in range(n_steps):
        opt.learning_rate = lr_at(step)
        idx = rng.integers(0, len(Xtr), BATCH)
        x, h = mx.array(Xtr[idx]), mx.array(Htr[idx])
        loss, grads = loss_and_grad(model, x, h)
        if step == 0:
            leaves = tree_flatten(grads)
            nz = sum(int(mx.any(g != 0).item()) for _, g in leaves)
            print(f"  gradient leaves with signal {nz}/{len(leaves)} · first lr {opt.learning_rate.item():.2e}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        step += 1
        if (i + 1) % REPORT == 0:
            dev_nll = tree_nll(model, mx.array(Xdv), mx.array(Hdv)).item()
            print(f"  stage {stage} · step {step:03d} · lr {lr_at(step - 1):.2e} · "
                  f"nll/line {np.mean(window):7.3f} · dev nll/line {dev_nll:7.3f} · "
                  f"dev UAS {attachment_scores(model, Xdv, Hdv):5.1f}% · {time.time() - t0:5.1f}s")
            window = []
    if stage == 1:
        wpath = os.path.join(ckpt_dir, "weights.safetensors")
        opath = os.path.join(ckpt_dir, "optimizer.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
        before = tree_nll(model, mx.array(Xdv), mx.array(Hdv)).item()
        del model, opt
        model = ArcScorer(len(VOCAB))
        model.load_weights(wpath)
        opt = optim.AdamW(learning_rate=0.0, weight_decay=0.01)
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        mx.eval(model.parameters(), opt.state)
        loss_and_grad = nn.value_and_grad(model, tree_nll)
        after = tree_nll(model, mx.array(Xdv), mx.array(Hdv)).item()
        print(f"§ checkpoint · saved and reloaded into a new parser · optimizer step {opt.step.item()} · "
              f"dev nll/line {before:.4f} -> {after:.4f}")

# held-out lines of both lengths, decoded with the final parser
for L, _ in STAGES:
    Xte, Hte = make_set(rng, 300, L)
    print(f"§ test {L}-word lines · UAS {attachment_scores(model, Xte, Hte):.1f}% "
          f"· next-word baseline {next_word_baseline(Hte):.1f}%")
print(f"§ done · {step} steps · {time.time() - t0:.1f}s")
