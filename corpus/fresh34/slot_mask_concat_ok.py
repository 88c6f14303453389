# Toy "denoising query" trainer: every sample carries a fixed number of padded
# object slots (labels + boxes), of which only the first num_objects are real.
import random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(3)
mx.random.seed(3)
N_SLOTS, N_CLS, D = 6, 5, 12
BATCH = 8

def make_sample():
    n = random.randint(1, N_SLOTS)
    labels = [random.randrange(N_CLS) for _ in range(n)] + [0] * (N_SLOTS - n)
    feats = []
    for j, c in enumerate(labels):
        v = [random.gauss(0, 0.3) for _ in range(D)]
        v[c] += 2.0
        v[N_CLS + (j % 3)] += 1.0
        feats.append(v)
    return {"feat": mx.array(feats), "labels": mx.array(labels), "num_objects": n}

train = [make_sample() for _ in range(256)]

class SlotHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(D, 32)
        self.cls = nn.Linear(32, N_CLS)
    def __call__(self, x):
        return self.cls(nn.relu(self.enc(x)))

def object_mask(targets):
    labels_range = [mx.arange(t["labels"].shape[0]) for t in targets]
    num_objects = [t["num_objects"] for t in targets]
    masks = []
    for i in range(len(num_objects)):
        masks.append(mx.where(labels_range[i] < num_objects[i], 1, 0))
    labels_range = mx.concatenate(labels_range)
    return mx.concatenate(masks)

def loss_fn(model, feats, labels, mask):
    logits = model(feats).reshape(-1, N_CLS)
    ce = nn.losses.cross_entropy(logits, labels.reshape(-1), reduction="none")
    return (ce * mask).sum() / mask.sum()

model = SlotHead()
opt = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, loss_fn)

for epoch in range(6):
    random.shuffle(train)
    tot, nb = 0.0, 0
    for b in range(0, len(train), BATCH):
        targets = train[b:b + BATCH]
        feats = mx.stack([t["feat"] for t in targets])
        labels = mx.stack([t["labels"] for t in targets])
        mask = object_mask(targets)
        loss, grads = step_fn(model, feats, labels, mask)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1
    print(f"epoch {epoch}  masked_ce {tot / nb:.4f}")
