# Implicit-feedback recommender: matrix factorisation + item bias trained with the
# BPR pairwise loss (sampled negatives), evaluated by leave-one-out HR@10 and AUC.
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(11)
mx.random.seed(11)

N_USERS, N_ITEMS, TRUE_DIM, DIM = 300, 400, 6, 16

# --- synthetic interactions from a hidden low-rank taste model -------------------
U_true = mx.random.normal((N_USERS, TRUE_DIM))
V_true = mx.random.normal((N_ITEMS, TRUE_DIM))
pop = mx.random.normal((N_ITEMS,)) * 1.5
scores = (U_true @ V_true.T) + pop
mx.eval(scores)
sc = scores.tolist()
user_items, held_out = [], []
for u in range(N_USERS):
    ranked = sorted(range(N_ITEMS), key=lambda i: -sc[u][i])
    liked = random.sample(ranked[:60], 25)       # 25 positives drawn from the top 60
    held_out.append(liked[0])
    user_items.append(set(liked[1:]))
train_pairs = [(u, i) for u in range(N_USERS) for i in user_items[u]]


class BPRMF(nn.Module):
    def __init__(self):
        super().__init__()
        self.user = nn.Embedding(N_USERS, DIM)
        self.item = nn.Embedding(N_ITEMS, DIM)
        self.item_bias = nn.Embedding(N_ITEMS, 1)
        self.user.weight = self.user.weight * 0.1
        self.item.weight = self.item.weight * 0.1
        self.item_bias.weight = mx.zeros((N_ITEMS, 1))

    def score(self, u, i):
        return (self.user(u) * self.item(i)).sum(-1) + self.item_bias(i).squeeze(-1)


def bpr_loss(model, u, i, j, reg=1e-4):
    diff = model.score(u, i) - model.score(u, j)
    l2 = (model.user(u) ** 2).sum() + (model.item(i) ** 2).sum() + (model.item(j) ** 2).sum()
    return -mx.mean(nn.log_sigmoid(diff)) + reg * l2 / u.shape[0]


def evaluate(model):
    all_scores = model.user.weight @ model.item.weight.T + model.item_bias.weight.T
    mx.eval(all_scores)
    S = all_scores.tolist()
    hits, auc = 0, 0.0
    for u in range(N_USERS):
        cand = [k for k in range(N_ITEMS) if k not in user_items[u]]
        t = S[u][held_out[u]]
        better = sum(1 for k in cand if S[u][k] > t)
        hits += better < 10
        auc += 1.0 - better / (len(cand) - 1)
    return hits / N_USERS, auc / N_USERS


model = BPRMF()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=0.01)
step_fn = nn.value_and_grad(model, bpr_loss)
BATCH = 256
t0 = time.time()

hr, auc = evaluate(model)
print(f"{'epoch':>5} {'bpr':>8} {'HR@10':>7} {'AUC':>7} {'sec':>6}")
print(f"{0:>5} {'-':>8} {hr:7.3f} {auc:7.3f} {time.time() - t0:6.1f}")
for epoch in range(1, 25):
    random.shuffle(train_pairs)
    tot, nb = 0.0, 0
    for b in range(0, len(train_pairs), BATCH):
        chunk = train_pairs[b:b + BATCH]
        us = [p[0] for p in chunk]
        its = [p[1] for p in chunk]
        negs = []
        for uu in us:                       # fresh uniform negatives every batch
            j = random.randrange(N_ITEMS)
            while j in user_items[uu]:
                j = random.randrange(N_ITEMS)
            negs.append(j)
        loss, grads = step_fn(model, mx.array(us), mx.array(its), mx.array(negs))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        tot += loss.item()
        nb += 1
    if epoch % 3 == 0:
        hr, auc = evaluate(model)
        print(f"{epoch:>5} {tot / nb:8.4f} {hr:7.3f} {auc:7.3f} {time.time() - t0:6.1f}")
