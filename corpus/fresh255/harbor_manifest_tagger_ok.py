# Harbour customs desk: a tiny causal LM reads a container manifest (cargo item codes)
# and writes the customs lane token at the end. Train with a masked next-token loss,
# then score the lane token on held-out manifests.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

PAD, BOS, SEP = 0, 1, 2
N_CAT, PER_CAT = 4, 8
ITEM0 = 3                       # item codes 3..34, category = (code-3)//8
LANE0 = ITEM0 + N_CAT * PER_CAT  # lane tokens 35..38
VOCAB = LANE0 + N_CAT
MAXLEN = 12

rng = np.random.default_rng(7)


def make_manifest():
    n = int(rng.integers(4, 9))
    main = int(rng.integers(N_CAT))
    k = n // 2 + 1
    cats = [main] * k + [int(c) for c in rng.choice([c for c in range(N_CAT) if c != main], n - k)]
    rng.shuffle(cats)
    items = [ITEM0 + c * PER_CAT + int(rng.integers(PER_CAT)) for c in cats]
    return [BOS] + items + [SEP, LANE0 + main]


def make_split(n):
    seqs = [make_manifest() for _ in range(n)]
    arr = np.zeros((n, MAXLEN), dtype=np.int32)
    for i, s in enumerate(seqs):
        arr[i, : len(s)] = s
    lengths = np.array([len(s) - 1 for s in seqs], dtype=np.int32)
    return arr, lengths


def iterate_batches(arr, lengths, bsz, shuffle):
    idx = rng.permutation(len(arr)) if shuffle else np.arange(len(arr))
    for i in range(0, len(arr) - bsz + 1, bsz):
        b = idx[i : i + bsz]
        batch = mx.array(arr[b])
        yield batch[:, :-1], batch[:, 1:], mx.array(lengths[b])


class ManifestLM(nn.Module):
    def __init__(self, vocab, dim=64):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, dim)
        self.head = nn.Linear(dim, vocab)

    def __call__(self, x):
        h = self.rnn(self.embed(x))
        return self.head(h), None


def loss_fn(model, inputs, targets, lengths):
    logits, _ = model(inputs)
    logits = logits.astype(mx.float32)
    length_mask = mx.arange(inputs.shape[1])[None, :] < lengths[:, None]
    ce = nn.losses.cross_entropy(logits, targets) * length_mask
    ntoks = length_mask.sum()
    return ce.sum() / ntoks, ntoks


def last_nonzero_targets(targets):
    vals, idxs = [], []
    for row in np.array(targets):
        nz = np.nonzero(row)[0]
        vals.append(row[nz[-1]])
        idxs.append(nz[-1])
    return np.array(vals), np.array(idxs)


def loss_test(model, inputs, targets, lengths, targets_global, logits_global):
    logits, _ = model(inputs)
    logits = logits.astype(mx.float32)
    T, indices = last_nonzero_targets(targets)
    targets_global = np.append(targets_global, T)
    L = np.array(logits)
    rows = np.arange(L.shape[0])
    logits_global.append(L[rows, indices, :])
    length_mask = mx.arange(inputs.shape[1])[None, :] < lengths[:, None]
    ce = nn.losses.cross_entropy(logits, targets) * length_mask
    ntoks = length_mask.sum()
    return ce.sum() / ntoks, ntoks, targets_global, logits_global


def evaluate_test(model, arr, lengths, bsz):
    all_losses, ntokens = [], 0
    targets_global, logits_global = np.empty(0), []
    for batch in iterate_batches(arr, lengths, bsz, shuffle=False):
        loss, toks, targets_global, logits_global = loss_test(model, *batch, targets_global, logits_global)
        all_losses.append((loss * toks).item())
        ntokens += toks.item()
    logits_global = np.concatenate(logits_global, axis=0)
    pred = logits_global.argmax(-1)
    acc = float((pred == targets_global).mean())
    return np.sum(all_losses) / ntokens, acc, pred


def main():
    mx.random.seed(0)
    tr_x, tr_len = make_split(3000)
    te_x, te_len = make_split(600)
    model = ManifestLM(VOCAB)
    opt = optim.Adam(learning_rate=3e-3)
    step_fn = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    it = 0
    for epoch in range(1, 4):
        for inputs, targets, lengths in iterate_batches(tr_x, tr_len, 50, shuffle=True):
            (loss, ntoks), grads = step_fn(model, inputs, targets, lengths)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            it += 1
            if it % 30 == 0:
                print(f"Iter {it}: Train loss {loss.item():.3f}, Tokens {ntoks.item()}, {time.time()-t0:.1f}s")
        test_loss, lane_acc, pred = evaluate_test(model, te_x, te_len, 50)
        print(f"Epoch {epoch}: Test loss {test_loss:.3f}, lane accuracy {100*lane_acc:.1f}%")
    lane_share = float(((pred >= LANE0) & (pred < VOCAB)).mean())
    print(f"predictions that are lane tokens: {100*lane_share:.1f}%")
    print(f"chance lane accuracy {100.0/N_CAT:.1f}% | final lane accuracy {100*lane_acc:.1f}%")


if __name__ == "__main__":
    main()
