"""Community orchard volunteer logbook: multi-label tagging of free-text entries.

Tags: pruning, pests, harvest, fencing, watering. Entries are right padded; a Conv1d
encoder feeds a masked attention-pooling head. SGD with Nesterov momentum under a
cosine schedule with warm restarts (cycles of 60, 120 and 240 steps).
"""
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(11)
mx.random.seed(11)

TAGS = ["pruning", "pests", "harvest", "fencing", "watering"]
PHRASES = {
    "pruning": ["cut back the {TREE}", "took out dead wood on the {TREE}", "shaped the young {TREE}",
                "pruned the {TREE} by the gate"],
    "pests": ["codling moth on the {TREE}", "aphids on the {TREE} tips", "wasps in the {TREE} fruit",
              "canker showing on the {TREE}"],
    "harvest": ["picked the {TREE} crop", "boxed windfalls under the {TREE}", "took fruit to the shed",
                "filled six crates from the {TREE}"],
    "fencing": ["mended the fence by the {TREE}", "new rabbit wire on the north side", "reset the gate post",
                "staked the fence near the {TREE}"],
    "watering": ["watered the new {TREE}", "filled the butts", "hosed the young {TREE}",
                 "soaked the {TREE} after the dry spell"],
}
NEGATED = {  # mention a tag's words without the tag applying
    "pests": ["no aphids on the {TREE}", "checked for moth none found"],
    "watering": ["no need to water the {TREE}", "butts still full"],
    "pruning": ["left the {TREE} unpruned"],
}
TREES = ["bramley", "cox", "russet", "pear", "plum", "damson", "quince", "medlar"]
FILLER = ["lovely morning", "three of us today", "rain later", "tea at eleven", "muddy paths", "robin about"]


def fill(p):
    return p.replace("{TREE}", random.choice(TREES)).split()


def make_entry():
    k = random.choices([1, 2, 3], weights=[0.45, 0.4, 0.15])[0]
    tags = random.sample(range(len(TAGS)), k)
    parts = [fill(random.choice(PHRASES[TAGS[t]])) for t in tags]
    if random.random() < 0.35:
        neg_tag = random.choice(list(NEGATED))
        if TAGS.index(neg_tag) not in tags:
            parts.append(fill(random.choice(NEGATED[neg_tag])))
    if random.random() < 0.5:
        parts.append(random.choice(FILLER).split())
    random.shuffle(parts)
    words = [w for p in parts + [["and"]] for w in p][:-1]
    y = [1.0 if i in tags else 0.0 for i in range(len(TAGS))]
    return words, y


def make_split(n, slip):
    out = []
    for _ in range(n):
        w, y = make_entry()
        if random.random() < slip:  # a volunteer ticked one box in error
            j = random.randrange(len(TAGS))
            y[j] = 1.0 - y[j]
        out.append((w, y))
    return out


train = make_split(5000, slip=0.05)
valid = make_split(600, slip=0.0)
test = make_split(1000, slip=0.0)
vocab = sorted({w for ws, _ in train + valid + test for w in ws})
W2I = {w: i + 1 for i, w in enumerate(vocab)}  # 0 = pad


def batchify(rows):
    L = max(len(w) for w, _ in rows)
    ids = [[W2I[t] for t in w] + [0] * (L - len(w)) for w, _ in rows]
    return mx.array(ids), mx.array([y for _, y in rows])


class LogbookTagger(nn.Module):
    def __init__(self, vocab_size, dim=32, hidden=64, n_tags=5):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, dim)
        self.conv = nn.Conv1d(dim, hidden, kernel_size=3, padding=1)
        self.score = nn.Linear(hidden, 1)
        self.out = nn.Linear(hidden, n_tags)

    def __call__(self, ids):
        keep = (ids > 0)[..., None]
        h = self.emb(ids) * keep
        h = nn.gelu(self.conv(h))
        s = mx.where(keep, self.score(h), -1e9)
        a = mx.softmax(s, axis=1)
        return self.out((a * h).sum(axis=1))


def loss_fn(model, ids, y):
    return nn.losses.binary_cross_entropy(model(ids), y, with_logits=True, reduction="mean")


def scores(model, rows):
    ids, y = batchify(rows)
    logits = model(ids)
    p = mx.sigmoid(logits)
    ll = -nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="mean")
    pred = p > 0.5
    tp = (pred * y).sum()
    f1 = 2 * tp / (pred.sum() + y.sum())
    return ll.item(), f1.item()


# baselines: constant tag prior, and a keyword rule that ignores context
prior = [sum(y[j] for _, y in train) / len(train) for j in range(len(TAGS))]
prior_ll = sum(yj * math.log(pj) + (1 - yj) * math.log(1 - pj)
               for _, y in test for yj, pj in zip(y, prior)) / (len(test) * len(TAGS))
KEY = {"pruning": {"cut", "pruned", "dead", "shaped", "unpruned"}, "pests": {"moth", "aphids", "wasps", "canker"},
       "harvest": {"picked", "windfalls", "crates", "fruit"}, "fencing": {"fence", "wire", "gate", "post"},
       "watering": {"watered", "water", "butts", "hosed", "soaked"}}
tp = npred = npos = 0
for w, y in test:
    ws = set(w)
    for j, t in enumerate(TAGS):
        guess = 1.0 if ws & KEY[t] else 0.0
        tp += guess * y[j]
        npred += guess
        npos += y[j]
rule_f1 = 2 * tp / (npred + npos)
print(f"vocab {len(vocab) + 1} | train {len(train)} valid {len(valid)} test {len(test)} | tag rates "
      + " ".join(f"{t}={p:.2f}" for t, p in zip(TAGS, prior)))
print(f"baselines on test: prior log-lik/tag {prior_ll:.4f}, keyword-rule micro-F1 {rule_f1:.3f}")

CYCLES, PEAK, FLOOR, BS = [60, 120, 240], 0.4, 0.004, 32
bounds = [sum(CYCLES[:i + 1]) for i in range(len(CYCLES) - 1)]
lr_sched = optim.join_schedules([optim.cosine_decay(PEAK, c, FLOOR) for c in CYCLES], bounds)

model = LogbookTagger(len(vocab) + 1)
opt = optim.SGD(learning_rate=lr_sched, momentum=0.9, nesterov=True, weight_decay=1e-4)
step_fn = nn.value_and_grad(model, loss_fn)
mx.eval(model.parameters())
ll0, f0 = scores(model, valid)
print(f"init: valid log-lik/tag {ll0:.4f} micro-F1 {f0:.3f}")

t0 = time.time()
step, run = 0, []
for c, length in enumerate(CYCLES):
    for i in range(length):
        ids, y = batchify(random.sample(train, BS))
        loss, g = step_fn(model, ids, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        run.append(loss)
        step += 1
        if step % 30 == 0 or i == 0:
            print(f"step {step:4d} cycle {c + 1} lr {opt.learning_rate.item():.4f} "
                  f"train bce {mx.mean(mx.stack(run)).item():.4f}")
            run = []
    ll, f1 = scores(model, valid)
    print(f"== end of cycle {c + 1} (step {step}): valid log-lik/tag {ll:.4f} micro-F1 {f1:.3f}")

ll, f1 = scores(model, test)
print(f"test: log-lik/tag {ll:.4f} (prior {prior_ll:.4f}) | micro-F1 {f1:.3f} (keyword rule {rule_f1:.3f})")
print(f"done in {time.time() - t0:.1f}s")
