import csv, sys, os, time, tempfile, json
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
V, DIM, QLEN, DLEN, NDOC = 400, 32, 6, 16, 600
# parish ledger entries: each entry mentions a family, a place, a trade and filler words;
# queries are short paraphrases using synonym tokens (ids shifted by 200) for half their words
topic = rng.integers(0, 200, size=(NDOC, 6))
def make_doc(i):
    toks = list(topic[i]) + list(rng.integers(0, 200, size=rng.integers(4, 10)))
    rng.shuffle(toks)
    return toks[:DLEN]
def make_query(i):
    q = list(rng.choice(topic[i], size=rng.integers(3, QLEN + 1), replace=False))
    return [t + 200 if rng.random() < 0.5 else t for t in q]
def pad(rows, L):
    a = np.zeros((len(rows), L), np.int32); m = np.zeros((len(rows), L), bool)
    for k, r in enumerate(rows): a[k, :len(r)] = r; m[k, :len(r)] = True
    return mx.array(a), mx.array(m)

docs = [make_doc(i) for i in range(NDOC)]
D_tok, D_mask = pad(docs, DLEN)
train_pairs = [(i, make_query(i)) for i in range(NDOC) for _ in range(4)]
test_ids = rng.choice(NDOC, 200, replace=False)
test_q = [make_query(i) for i in test_ids]
Qt_tok, Qt_mask = pad(test_q, QLEN)

class LateInteraction(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, DIM)
        self.proj = nn.Linear(DIM, DIM)
    def encode(self, ids):
        h = self.proj(self.tok(ids))
        return h / mx.sqrt(mx.sum(h * h, axis=-1, keepdims=True) + 1e-6)
    def score(self, q, qm, d, dm):
        Eq, Ed = self.encode(q), self.encode(d)               # (B,Lq,D), (N,Ld,D)
        B, Lq, _ = Eq.shape; N, Ld, _ = Ed.shape
        s = (Eq.reshape(B * Lq, DIM) @ Ed.reshape(N * Ld, DIM).T).reshape(B, Lq, N, Ld)
        s = s.transpose(0, 2, 1, 3)                            # token similarities (B,N,Lq,Ld)
        s = mx.where(dm[None, :, None, :], s, -1e4)            # padded doc tokens never win
        best = mx.max(s, axis=-1)                              # MaxSim per query token
        best = mx.where(qm[:, None, :], best, 0.0)
        return mx.sum(best, axis=-1) / mx.maximum(mx.sum(qm, axis=-1, keepdims=True), 1)

def loss_fn(model, q, qm, d, dm):
    logits = 20.0 * model.score(q, qm, d, dm)                  # in-batch negatives
    return nn.losses.cross_entropy(logits, mx.arange(q.shape[0]), reduction="mean")

def mrr10(model):
    sc = []
    for a in range(0, len(test_q), 100):
        sc.append(model.score(Qt_tok[a:a+100], Qt_mask[a:a+100], D_tok, D_mask))
    sc = np.array(mx.concatenate(sc, axis=0))
    gold = sc[np.arange(len(test_ids)), test_ids]
    rank = (sc > gold[:, None]).sum(1) + 1
    return float(np.mean(np.where(rank <= 10, 1.0 / rank, 0.0))), float(np.mean(rank == 1) * 100)

def lexical_baseline():
    Dn = np.array(D_tok); Dm = np.array(D_mask); rr = []
    for q, g in zip(test_q, test_ids):
        ov = np.array([len(set(q) & set(Dn[j][Dm[j]].tolist())) for j in range(NDOC)], float)
        ov += rng.random(NDOC) * 1e-3
        r = (ov > ov[g]).sum() + 1
        rr.append(1.0 / r if r <= 10 else 0.0)
    return float(np.mean(rr))

BATCH, TOTAL, SPLIT = 64, 320, 160
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 60),
                              optim.cosine_decay(3e-3, TOTAL - 60, 1e-4)], [60])
out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["session", "step", "lr", "train_ce", "chance_ce", "mrr@10", "top1_pct", "lexical_mrr@10", "secs"])
lex = lexical_baseline()
ckdir = tempfile.mkdtemp()

def run(session, model, opt, start, stop, order):
    step_fn = nn.value_and_grad(model, loss_fn)
    t0 = time.time(); run_loss = []
    for step in range(start, stop):
        idx = order[(step * BATCH) % len(order):(step * BATCH) % len(order) + BATCH]
        if len(idx) < BATCH: idx = order[:BATCH]
        ids = [train_pairs[k][0] for k in idx]
        if len(set(ids)) < BATCH:            # keep in-batch negatives distinct entries
            seen, keep = set(), []
            for k in idx:
                if train_pairs[k][0] not in seen: seen.add(train_pairs[k][0]); keep.append(k)
            idx = keep
        q, qm = pad([train_pairs[k][1] for k in idx], QLEN)
        d, dm = D_tok[mx.array([train_pairs[k][0] for k in idx])], D_mask[mx.array([train_pairs[k][0] for k in idx])]
        lr_now = float(sched(opt.step))
        loss, g = step_fn(model, q, qm, d, dm)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run_loss.append(loss.item())
        if step + 1 in (1, 2) or (step + 1) % 80 == 0:
            m, t1 = mrr10(model)
            out.writerow([session, step + 1, f"{lr_now:.2e}", f"{np.mean(run_loss):.4f}", f"{np.log(len(idx)):.4f}",
                          f"{m:.4f}", f"{t1:.1f}", f"{lex:.4f}", f"{time.time()-t0:.1f}"])
            sys.stdout.flush(); run_loss = []

mx.random.seed(0)
order = rng.permutation(len(train_pairs))
model = LateInteraction(); opt = optim.Adam(learning_rate=sched)
run(1, model, opt, 0, SPLIT, order)
model.save_weights(os.path.join(ckdir, "w.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
saved = mrr10(model)[0]
del model, opt
mx.random.seed(99)
model = LateInteraction(); model.load_weights(os.path.join(ckdir, "w.safetensors"))
opt = optim.Adam(learning_rate=sched); opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
print(json.dumps({"resumed_at": int(opt.step), "mrr_saved": round(saved, 4), "mrr_loaded": round(mrr10(model)[0], 4)}))
run(2, model, opt, SPLIT, TOTAL, order)
print(json.dumps({"done": True, "final_mrr@10": round(mrr10(model)[0], 4), "lexical_mrr@10": round(lex, 4)}))
