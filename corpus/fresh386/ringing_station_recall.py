# Ringing-station ring book: every species code must map to its ring size,
# moult strategy and ageing scheme. This is a lookup table, so the goal is
# exact recall of every entry (memorisation on purpose), in two stages:
# stage A learns the 60 resident species, stage B adds 12 passage migrants.
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N_RESIDENT, N_MIGRANT = 60, 12
N_SPECIES = N_RESIDENT + N_MIGRANT
RING_SIZES = ["AA", "A", "B", "BB", "C", "C2", "D", "E", "F", "G", "H", "V"]
ring = rng.integers(0, len(RING_SIZES), N_SPECIES)
moult = rng.integers(0, 4, N_SPECIES)      # complete / partial / suspended / none
ageing = rng.integers(0, 3, N_SPECIES)     # EURING scheme family


class RingBook(nn.Module):
    def __init__(self):
        super().__init__()
        self.species = nn.Embedding(N_SPECIES, 24)
        self.trunk = nn.Linear(24, 64)
        self.ring_head = nn.Linear(64, len(RING_SIZES))
        self.moult_head = nn.Linear(64, 4)
        self.age_head = nn.Linear(64, 3)

    def __call__(self, ids):
        h = nn.gelu(self.trunk(self.species(ids)))
        return self.ring_head(h), self.moult_head(h), self.age_head(h)


def loss_fn(model, ids, r, m, a):
    lr_, lm, la = model(ids)
    return (nn.losses.cross_entropy(lr_, r, reduction="mean")
            + nn.losses.cross_entropy(lm, m, reduction="mean")
            + nn.losses.cross_entropy(la, a, reduction="mean"))


def recall(model, ids, r, m, a):
    lr_, lm, la = model(ids)
    ok = (mx.argmax(lr_, -1) == r) & (mx.argmax(lm, -1) == m) & (mx.argmax(la, -1) == a)
    return int(mx.sum(ok).item())


mx.random.seed(7)
model = RingBook()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-2)
step_fn = nn.value_and_grad(model, loss_fn)

def run_stage(name, n_species, steps, log_every):
    ids = mx.arange(n_species)
    r, m, a = mx.array(ring[:n_species]), mx.array(moult[:n_species]), mx.array(ageing[:n_species])
    print(f"== stage {name}: {n_species} species in the ring book ==")
    for s in range(1, steps + 1):
        loss, g = step_fn(model, ids, r, m, a)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if s <= 5 or s % log_every == 0:
            lv = loss.item()
            print(f"[{name}] step {s:4d}  loss {lv:.6f}  log10 {math.log10(lv):+.3f}  "
                  f"recalled {recall(model, ids, r, m, a)}/{n_species}")
    return recall(model, ids, r, m, a)

got_a = run_stage("A", N_RESIDENT, 300, 50)
# stage B: migrants are appended; old entries must stay exact
opt.learning_rate = 1e-2
got_b = run_stage("B", N_SPECIES, 300, 50)
ids = mx.arange(N_RESIDENT)
kept = recall(model, ids, mx.array(ring[:N_RESIDENT]), mx.array(moult[:N_RESIDENT]),
              mx.array(ageing[:N_RESIDENT]))
chance = 1.0 / (len(RING_SIZES) * 4 * 3)
print(f"final: all species {got_b}/{N_SPECIES}, residents kept {kept}/{N_RESIDENT}, "
      f"chance per entry {chance:.4f}")
