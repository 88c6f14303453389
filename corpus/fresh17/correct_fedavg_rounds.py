"""Federated averaging (FedAvg) simulation.

Six simulated clients each hold a skewed slice of a 4-class problem (each
client mostly sees two classes).  Every round the server broadcasts the global
weights, each client runs a few local epochs of plain SGD from them, and the
server replaces the global weights with the size-weighted average of the
client weights.  Client losses are measured on each client's own data, so they
jump back up at the start of every round.
"""
import copy

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

mx.random.seed(11)
N_CLASSES, DIM = 4, 10
centers = mx.random.normal((N_CLASSES, DIM)) * 0.7


def sample(labels):
    labels = mx.array(labels)
    return centers[labels] + mx.random.normal((labels.shape[0], DIM)), labels


# non-IID split: client k sees mostly classes k % 4 and (k + 1) % 4
clients = []
for k in range(6):
    major = [k % 4] * 70 + [(k + 1) % 4] * 50 + [(k + 2) % 4] * 6
    x, y = sample(major)
    clients.append((x, y))
val_x, val_y = sample([c for c in range(N_CLASSES) for _ in range(100)])


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(DIM, 32)
        self.l2 = nn.Linear(32, N_CLASSES)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


global_model = Net()
mx.eval(global_model.parameters())

ROUNDS, LOCAL_EPOCHS, BS = 12, 3, 16
print("| round | first local loss | last local loss | global val acc |")
print("|------:|-----------------:|----------------:|---------------:|")
for rnd in range(1, ROUNDS + 1):
    client_states, sizes, first, last = [], [], [], []
    for x, y in clients:
        local = copy.deepcopy(global_model)
        opt = optim.SGD(learning_rate=0.05)
        vg = nn.value_and_grad(local, loss_fn)
        n = x.shape[0]
        first.append(loss_fn(local, x, y).item())
        for _ in range(LOCAL_EPOCHS):
            perm = mx.random.permutation(n)
            for i in range(0, n, BS):
                idx = perm[i:i + BS]
                _, g = vg(local, x[idx], y[idx])
                opt.update(local, g)
                mx.eval(local.parameters())
        last.append(loss_fn(local, x, y).item())
        client_states.append(local.parameters())
        sizes.append(n)
    total = sum(sizes)
    avg = tree_map(lambda *ps: sum(p * (s / total) for p, s in zip(ps, sizes)), *client_states)
    global_model.update(avg)
    mx.eval(global_model.parameters())
    acc = (mx.argmax(global_model(val_x), axis=1) == val_y).mean().item()
    print(f"| {rnd:5d} | {sum(first) / len(first):16.4f} | {sum(last) / len(last):15.4f} | {acc:14.3f} |")
