"""Left-luggage office: which locker holds a given bag right now?

Each story is a short log of porter moves ("ava trunk L3", "ben satchel L1", ...);
the question names one bag and the answer is the locker of its LAST move.
Model: End-to-End Memory Network (3 hops, bag-of-words sentences, temporal
encoding, adjacent weight tying), trained with "linear start" (no softmax in the
hops for the first epochs, then softmax inserted), a warm-up from lr 0, step decay,
and a checkpoint / resume in the middle of the run.
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

PORTERS = ["ava", "ben", "cho", "dev", "eli"]
BAGS = ["trunk", "satchel", "hatbox", "cello", "pram", "rucksack"]
LOCKERS = [f"L{i}" for i in range(1, 7)]
VOCAB = ["<pad>"] + PORTERS + BAGS + LOCKERS
W2I = {w: i for i, w in enumerate(VOCAB)}
N_SENT, SENT_LEN, DIM, HOPS = 10, 3, 32, 3


def make_stories(n, rng):
    stories = np.zeros((n, N_SENT, SENT_LEN), dtype=np.int32)
    query = np.zeros((n,), dtype=np.int32)
    answer = np.zeros((n,), dtype=np.int32)
    first_seen = np.zeros((n,), dtype=np.int32)
    for s in range(n):
        where = {}
        first = {}
        for t in range(N_SENT):
            p = rng.choice(PORTERS)
            b = rng.choice(BAGS)
            loc = rng.choice(LOCKERS)
            stories[s, t] = [W2I[p], W2I[b], W2I[loc]]
            where[b] = loc
            first.setdefault(b, loc)
        q = rng.choice(sorted(where))
        query[s] = W2I[q]
        answer[s] = LOCKERS.index(where[q])
        first_seen[s] = LOCKERS.index(first[q])
    return stories, query, answer, first_seen


class MemN2N(nn.Module):
    def __init__(self):
        super().__init__()
        # adjacent tying: hop k uses emb[k] as input memory and emb[k+1] as output memory
        self.emb = [nn.Embedding(len(VOCAB), DIM) for _ in range(HOPS + 1)]
        self.temporal = [nn.Embedding(N_SENT, DIM) for _ in range(HOPS + 1)]
        self.out = nn.Linear(DIM, len(LOCKERS), bias=False)
        self.use_softmax = False

    def memories(self, k, stories):
        bow = self.emb[k](stories).sum(axis=2)  # (B, N_SENT, DIM)
        # most recent sentence gets temporal index 0
        order = mx.arange(N_SENT - 1, -1, -1)
        return bow + self.temporal[k](order)

    def __call__(self, stories, query):
        u = self.emb[0](query)  # B = A^1
        for k in range(HOPS):
            m_in = self.memories(k, stories)
            m_out = self.memories(k + 1, stories)
            scores = (m_in @ u[:, :, None]).squeeze(-1)
            p = mx.softmax(scores, axis=-1) if self.use_softmax else scores
            o = (p[:, :, None] * m_out).sum(axis=1)
            u = u + o
        return self.out(u)


def loss_fn(model, s, q, a):
    return nn.losses.cross_entropy(model(s, q), a, reduction="mean")


def accuracy(model, s, q, a):
    return float((mx.argmax(model(s, q), axis=-1) == a).mean().item())


def save_checkpoint(path, model, opt, meta):
    model.save_weights(os.path.join(path, "weights.safetensors"))
    mx.save_safetensors(os.path.join(path, "opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(path, "meta.json"), "w") as f:
        json.dump(meta, f)


def build(schedule):
    model = MemN2N()
    opt = optim.Adam(learning_rate=schedule)
    return model, opt


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    tr = [mx.array(x) for x in make_stories(4000, rng)]
    va = [mx.array(x) for x in make_stories(1000, rng)]
    n_train = tr[0].shape[0]
    batch = 50
    steps_per_epoch = n_train // batch
    epochs, ls_epochs, resume_at = 30, 8, 16
    warm = 60
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, warm), optim.step_decay(4e-3, 0.5, 10 * steps_per_epoch)],
        [warm],
    )

    # reference numbers printed beside the model
    va_ans = np.array(va[2])
    majority = float((va_ans == np.bincount(np.array(tr[2])).argmax()).mean())
    first_mention = float((np.array(va[3]) == va_ans).mean())

    model, opt = build(schedule)
    mx.eval(model.parameters())
    print("epoch,phase,global_step,lr,train_loss,val_loss,val_acc,majority_acc,first_mention_acc,secs")
    ckpt_dir = tempfile.mkdtemp()
    t0 = time.time()
    epoch = 0
    while epoch < epochs:
        if epoch == ls_epochs and not model.use_softmax:
            model.use_softmax = True
            print(f"# epoch {epoch}: softmax inserted into the hops (end of linear start)")
        if epoch == resume_at:
            meta = {"epoch": epoch, "use_softmax": model.use_softmax, "val_acc": accuracy(model, *va[:3])}
            save_checkpoint(ckpt_dir, model, opt, meta)
            del model, opt
            model, opt = build(schedule)
            model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
            with open(os.path.join(ckpt_dir, "meta.json")) as f:
                meta = json.load(f)
            model.use_softmax = meta["use_softmax"]
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
            mx.eval(model.parameters(), opt.state)
            again = accuracy(model, *va[:3])
            print(f"# resumed at epoch {meta['epoch']} optimizer step {opt.step.item()} "
                  f"val_acc saved {meta['val_acc']:.4f} reloaded {again:.4f}")
        step_fn = nn.value_and_grad(model, loss_fn)
        perm = mx.array(rng.permutation(n_train))
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * batch:(i + 1) * batch]
            loss, grads = step_fn(model, tr[0][idx], tr[1][idx], tr[2][idx])
            grads, _ = optim.clip_grad_norm(grads, 40.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        epoch += 1
        if epoch in (1, 2, 4, 6, 8, 9, 10, 12, 16, 20, 24, 28, 30):
            vloss = loss_fn(model, *va[:3]).item()
            print(f"{epoch},{'softmax' if model.use_softmax else 'linear'},{opt.step.item()},"
                  f"{float(opt.learning_rate.item()):.6f},{tot / steps_per_epoch:.4f},{vloss:.4f},"
                  f"{accuracy(model, *va[:3]):.4f},{majority:.4f},{first_mention:.4f},{time.time() - t0:.1f}")
    print(f"# final val_acc {accuracy(model, *va[:3]):.4f} (majority {majority:.4f}, first-mention {first_mention:.4f})")


if __name__ == "__main__":
    main()
