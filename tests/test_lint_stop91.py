"""Stop 91's lint changes, each on the shape of the corpus script that showed it:
- MLX008 reads a helper's result bound only to None and `.item()` values as a Python value
  (fresh351 `apiary_swarm_nova`, correct: a client's first and last losses returned beside
  its update, kept across rounds), and still finds a kept loss array;
- MLX113 leaves alone a function compiled inside a factory that a loop calls after its
  updates (fresh351 `rindcellar_pets_cem`, correct: the planner rebuilt each round after
  training), and still finds one built before the updates of its loop;
- MLX016 follows `helper(...)[i]` to the helper's i-th result (fresh351
  `allotment_kiosk_dla`, correct: two models trained on the two losses one helper returns),
  and still finds a cut one;
- MLX276 finds a sub-module's checkpoint loaded with strict=False into a model that holds that
  sub-module under an attribute (fresh350 `gazetteer_span_warmstart`, plpxsk/bert-qa 3c39fa0),
  and leaves alone the load into the sub-module itself and the load of a whole model's file;
- MLX277 finds a parameter never read whose keyword the function passes on as a literal
  while a caller gives it another value (fresh351 `ledger_quay_span`, plpxsk/bert-qa
  108f4b1), and leaves alone one forwarded, or one no caller sets otherwise;
- MLX014 leaves alone a descent step in a loop inside a module's forward (fresh353
  `widefield_zstack_unroll_ok`, correct: unrolled deconvolution), and still finds one in a
  training loop;
- MLX008 leaves alone losses kept over a loop of a small constant range inside one step and
  a helper's list of `.item()` values (fresh353 `ropebridge_replica_sag`, correct: four
  simulated replicas), and still finds a loss kept over a long loop;
- MLX269 leaves alone a `deque(maxlen=N)` of parameter trees (fresh353
  `locksmith_stale_workers`, correct: stale weights for delayed workers), and still finds a list;
- MLX075 leaves alone two permutations that each index two or more arrays (fresh355
  `orchard_crown_dustbin`, correct: two detection sets each shuffled with its own
  identities), and still finds inputs and targets shuffled apart.

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import fired

CLIENT = """
model = nn.Linear(4, 1)
grad_fn = nn.value_and_grad(model, lambda m, x, y: ((m(x) - y) ** 2).mean())

def local_train(x, y, tau):
    opt = optim.SGD(learning_rate=0.1)
    first = last = None
    for t in range(tau):
        loss, g = grad_fn(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if first is None:
            first = loss.item()
        last = {LAST}
    return model.parameters(), first, last

firsts, lasts = [], []
for rnd in range(20):
    delta, f, l = local_train(x, y, 5)
    firsts.append(f)
    lasts.append(l)
"""


def test_mlx008_leaves_alone_losses_returned_as_python_values() -> None:
    assert fired(CLIENT.replace("{LAST}", "loss.item()"), "MLX008") == []


def test_mlx008_still_finds_a_returned_loss_array_kept_across_rounds() -> None:
    assert fired(CLIENT.replace("{LAST}", "loss"), "MLX008") == [21]


PLANNER = """
model = nn.Linear(4, 2)
opt = optim.Adam(learning_rate=1e-3)
lg = nn.value_and_grad(model, lambda m, x, y: ((m(x) - y) ** 2).mean())

def make_planner(model):
    def _imagine(acts):
        return model(acts).sum(-1)
    imagine = mx.compile(_imagine)
    return lambda acts: imagine(acts)

for rnd in range(3):
{BEFORE}
    for step in range(100):
        loss, grads = lg(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
{AFTER}
"""
BUILD = "    planner = make_planner(model)\n    print(planner(x))"


def test_mlx113_leaves_alone_a_compile_rebuilt_after_each_rounds_updates() -> None:
    assert fired(PLANNER.replace("{BEFORE}", "").replace("{AFTER}", BUILD), "MLX113") == []


def test_mlx113_still_finds_a_compile_built_before_its_loops_updates() -> None:
    code = PLANNER.replace("{BEFORE}", BUILD).replace("{AFTER}", "    print(planner(x))")
    assert fired(code, "MLX113") == [9]


TWO_LOSSES = """
ranker, bias = nn.Linear(4, 3), nn.Linear(1, 3)

def rel(logits):
    p = mx.softmax(logits, axis=-1)
    return mx.stop_gradient(p / p[..., :1])

def losses(r_model, b_model, x, c):
    s = r_model(x)
    g = b_model(mx.ones((x.shape[0], 1)))
    l_r = -(c / rel(g) * nn.log_softmax(s, axis=-1)).sum(-1).mean()
    l_b = -(c / rel(s) * nn.log_softmax({G}, axis=-1)).sum(-1).mean()
    return l_r, l_b

b_grad = nn.value_and_grad(bias, lambda b, m, x, c: losses(m, b, x, c)[1])
"""


def test_mlx016_follows_a_picked_result_of_a_helper() -> None:
    assert fired(TWO_LOSSES.replace("{G}", "g"), "MLX016") == []


def test_mlx016_still_finds_a_picked_result_that_is_cut() -> None:
    assert fired(TWO_LOSSES.replace("{G}", "rel(g)"), "MLX016") != []


WARMSTART = """
from mlx.utils import tree_flatten

class Bert(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(4, 4)

class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.bert = Bert()
        self.tag = nn.Linear(4, 2)

class QA(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = Bert()
        self.head = nn.Linear(4, 2)

    def load_pretrained(self, path):
        self.model.load_weights(path, strict=False)

def pretrain(path):
    model = Tagger()
    mx.savez(path, **dict(tree_flatten(model.bert.parameters())))

def load(path):
    model = QA()
    model.{LOAD}(path{STRICT})
    return model
"""


def test_mlx276_finds_a_submodule_checkpoint_loaded_into_its_wrapper() -> None:
    code = WARMSTART.replace("{LOAD}", "load_weights").replace("{STRICT}", ", strict=False")
    assert fired(code, "MLX276") == [30]


def test_mlx276_leaves_alone_the_load_into_the_submodule_itself() -> None:
    code = WARMSTART.replace("{LOAD}", "load_pretrained").replace("{STRICT}", "")
    assert fired(code, "MLX276") == []


def test_mlx276_leaves_alone_a_wrapper_whose_own_weights_are_saved() -> None:
    code = WARMSTART.replace("{LOAD}", "load_weights").replace("{STRICT}", ", strict=False")
    code = code.replace("    return model\n", "    model.save_weights(path)\n    return model\n")
    assert fired(code, "MLX276") == []


REDUCTION = """
def compute_loss(logits, y, reduction="mean"):
    return nn.losses.cross_entropy(logits, y, reduction=reduction)

def loss_fn(model, x, y, reduction="mean"):
    return compute_loss(model(x), y, reduction={GIVEN})

def eval_fn(model, batches):
    total = 0.0
    for x, y in batches:
        total += mx.sum(loss_fn(model, x, y, reduction="{ASKED}")).item()
    return total
"""


def test_mlx277_finds_a_keyword_passed_on_as_a_literal_that_a_caller_sets() -> None:
    code = REDUCTION.replace("{GIVEN}", '"mean"').replace("{ASKED}", "none")
    assert fired(code, "MLX277") == [6]


def test_mlx277_leaves_alone_a_forwarded_keyword() -> None:
    code = REDUCTION.replace("{GIVEN}", "reduction").replace("{ASKED}", "none")
    assert fired(code, "MLX277") == []


def test_mlx277_leaves_alone_a_keyword_no_caller_sets_otherwise() -> None:
    code = REDUCTION.replace("{GIVEN}", '"mean"').replace("{ASKED}", "mean")
    assert fired(code, "MLX277") == []


UNROLLED = """
class Unrolled(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.log_steps = mx.zeros((n,))
        self.n = n

    def __call__(self, y, A):
        x = A.T @ y
        for k in range(self.n):
            grad = A.T @ (A @ x - y)
            x = x - mx.exp(self.log_steps[k]) * grad
        return x

model = Unrolled(4)
lg = nn.value_and_grad(model, lambda m, y, A, t: ((m(y, A) - t) ** 2).mean())
"""


def test_mlx014_leaves_alone_an_unrolled_descent_in_a_forward() -> None:
    assert fired(UNROLLED, "MLX014") == []


def test_mlx014_still_finds_a_hand_written_descent_in_a_training_loop() -> None:
    code = UNROLLED + """
w = mx.zeros((4,))
gfn = mx.grad(lambda w, x, y: ((x @ w - y) ** 2).mean())
for step in range(1000):
    grad = gfn(w, x, y)
    w = w - 0.1 * grad
"""
    assert fired(code, "MLX014") == [22]


REPLICAS = """
N_REPLICAS = 4
model = nn.Linear(4, 1)
opt = optim.Adam(learning_rate=1e-3)
grad_fn = nn.value_and_grad(model, lambda m, x, y: ((m(x) - y) ** 2).mean())

def replica_step(shards):
    losses, grads = [], []
    for r in range({COUNT}):
        loss, g = grad_fn(model, *shards[r])
        losses.append(loss)
        grads.append(g)
    opt.update(model, tree_map(lambda *gs: sum(gs) / len(gs), *grads))
    mx.eval(model.parameters(), opt.state, losses)
    return [l.item() for l in losses]

window = []
for step in range(1000):
    site_losses = replica_step(shards)
    window.append(site_losses)
"""


def test_mlx008_leaves_alone_a_few_replicas_losses_and_their_floats() -> None:
    assert fired(REPLICAS.replace("{COUNT}", "N_REPLICAS"), "MLX008") == []


def test_mlx008_still_finds_losses_kept_over_a_long_loop() -> None:
    assert fired(REPLICAS.replace("{COUNT}", "500"), "MLX008") == [11]


STALE = """
from collections import deque
model, server = nn.Linear(4, 1), nn.Linear(4, 1)
opt = optim.SGD(learning_rate=0.1)
grad_fn = nn.value_and_grad(model, lambda m, x, y: ((m(x) - y) ** 2).mean())
history = {KEPT}
for tick in range(1000):
    model.update(history[-1])
    loss, grads = grad_fn(model, x, y)
    opt.update(server, grads)
    mx.eval(server.parameters(), opt.state, loss)
    history.append(server.parameters())
"""


def test_mlx269_leaves_alone_a_capped_deque_of_versions() -> None:
    assert fired(STALE.replace("{KEPT}", "deque(maxlen=3)"), "MLX269") == []


def test_mlx269_still_finds_a_list_of_versions() -> None:
    assert fired(STALE.replace("{KEPT}", "[]"), "MLX269") == [12]


TWO_SETS = """
rng = np.random.default_rng(0)
pa = rng.permutation(8)
pb = rng.permutation(8)
xa = a_rows[pa]
xb = b_rows[pb]
ident_a = ia[pa]
{LAST}
"""


def test_mlx075_leaves_alone_two_sets_each_shuffled_with_its_labels() -> None:
    assert fired(TWO_SETS.replace("{LAST}", "ident_b = ib[pb]"), "MLX075") == []


def test_mlx075_still_finds_inputs_and_targets_shuffled_apart() -> None:
    assert fired(TWO_SETS.replace("{LAST}", ""), "MLX075") == [6]
