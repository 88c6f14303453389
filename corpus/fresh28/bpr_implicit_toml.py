# Implicit-feedback recommender trained with the BPR pairwise loss
# (user/item embeddings + item bias, one uniformly sampled negative per
# positive), SGD with momentum. Each evaluation is printed as a TOML table.
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(5)
mx.random.seed(5)
N_USERS, N_ITEMS, K_TRUE, DIM = 300, 400, 6, 24

# simulate taste vectors -> each user interacts with ~25 of the items they like most
U_true = mx.random.normal((N_USERS, K_TRUE))
I_true = mx.random.normal((N_ITEMS, K_TRUE))
pop = mx.random.normal((N_ITEMS,)) * 0.8
score = U_true @ I_true.T + pop[None, :] + 1.5 * mx.random.gumbel((N_USERS, N_ITEMS))
top = mx.argsort(-score, axis=1)[:, :25].tolist()
train, test = {}, {}
for u in range(N_USERS):
    items = top[u][:]
    random.shuffle(items)
    test[u] = items[:5]
    train[u] = set(items[5:])
pairs = [(u, i) for u in range(N_USERS) for i in train[u]]
train_mask = mx.zeros((N_USERS, N_ITEMS))
tm = [[0.0] * N_ITEMS for _ in range(N_USERS)]
for u, i in pairs:
    tm[u][i] = 1.0
train_mask = mx.array(tm)
item_pop = train_mask.sum(axis=0)


class BPR(nn.Module):
    def __init__(self):
        super().__init__()
        self.user = nn.Embedding(N_USERS, DIM)
        self.item = nn.Embedding(N_ITEMS, DIM)
        self.item_bias = mx.zeros((N_ITEMS,))
        self.user.weight = 0.05 * mx.random.normal((N_USERS, DIM))
        self.item.weight = 0.05 * mx.random.normal((N_ITEMS, DIM))

    def score(self, u, i):
        return mx.sum(self.user(u) * self.item(i), axis=-1) + self.item_bias[i]

    def all_scores(self):
        return self.user.weight @ self.item.weight.T + self.item_bias[None, :]


def bpr_loss(model, u, i, j, reg=1e-4):
    x = model.score(u, i) - model.score(u, j)
    l2 = reg * (mx.sum(model.user(u) ** 2) + mx.sum(model.item(i) ** 2) + mx.sum(model.item(j) ** 2)) / u.shape[0]
    return mx.mean(nn.softplus(-x)) + l2


def evaluate(model):
    s = model.all_scores() - 1e9 * train_mask          # never recommend seen items
    top10 = mx.argsort(-s, axis=1)[:, :10].tolist()
    hits = sum(len(set(top10[u]) & set(test[u])) for u in range(N_USERS))
    recall = hits / (5 * N_USERS)
    # sampled AUC on the held-out positives
    s_l = s.tolist()
    wins, tot = 0, 0
    for u in range(0, N_USERS, 3):
        for i in test[u]:
            for _ in range(20):
                j = random.randrange(N_ITEMS)
                if j in train[u] or j in test[u]:
                    continue
                wins += s_l[u][i] > s_l[u][j]
                tot += 1
    return recall, wins / tot


pop_scores = item_pop[None, :] - 1e9 * train_mask
pop_top = mx.argsort(-pop_scores, axis=1)[:, :10].tolist()
pop_recall = sum(len(set(pop_top[u]) & set(test[u])) for u in range(N_USERS)) / (5 * N_USERS)
print(f'[baseline]\nmost_popular_recall_at_10 = {pop_recall:.4f}\nn_train_pairs = {len(pairs)}\n')

model = BPR()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=3.0, momentum=0.9)
vg = nn.value_and_grad(model, bpr_loss)
BATCH, EPOCHS = 512, 30
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    random.shuffle(pairs)
    losses = []
    for b in range(0, len(pairs), BATCH):
        chunk = pairs[b:b + BATCH]
        u = mx.array([p[0] for p in chunk])
        i = mx.array([p[1] for p in chunk])
        j = mx.random.randint(0, N_ITEMS, (len(chunk),))   # may hit a positive: BPR noise by design
        loss, g = vg(model, u, i, j)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
    if epoch in (1, 2, 3) or epoch % 3 == 0:
        rec, auc = evaluate(model)
        print(f"[[epoch]]\nindex = {epoch}\nbpr_loss = {sum(losses)/len(losses):.4f}\n"
              f"last_batch_loss = {losses[-1]:.4f}\nheldout_auc = {auc:.4f}\n"
              f"recall_at_10 = {rec:.4f}\nseconds = {time.time()-t0:.1f}\n", flush=True)
