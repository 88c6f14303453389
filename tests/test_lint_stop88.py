"""Stop 88's lint changes.

- MLX274 (new): an `mlx.nn` layer class called on an array as if it were the layer's
  function (`x = nn.MaxPool2d(x, kernel_size=2, stride=2)` in `__call__`): fresh328
  `hedgerow_darknet_pool` (koogle/mlx-playground a26483d) raised TypeError at step 1.
- MLX126 leaves a term made a number from constants and library names only
  (`0.5 * mx.log(2 * mx.pi).item()`: fresh329 `organpipe_voicing_ema_nll`, correct, was
  found): no variable is read, so no gradient is lost.
- `flow.helper_of` follows `self.part(...)` to the function the class's `__init__` stores
  (`self.part = helper`, or `self.part = factory(k)` returning a function it defines), and
  MLX038/MLX059 read `argpartition(-h)` as the top-k of `h`: lintheld3 `b3_wta_sparse_mask`
  (a k-winners sparsifier built by a factory, its scatter indices not stopped) was missed.
- MLX119 follows `.items()` of a dict made of the flattened tree (`flat =
  dict(tree_flatten(model.parameters()))`): fresh330 `copperplate_engraver_charlm`
  (autoresearch-muon a9af0e6, bfloat16 weights given to `np.array` for a checkpoint) was
  missed.
- MLX128 (and MLX062) read an exponent made by a module helper every `return` of which is a
  clip or a cap as bounded (`la = self.log_alpha()`, `return mx.clip(la, -10.0, 10.0)`):
  fresh334 `millrace_weir_sparsevd` (correct) was found.

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import fired

POOLED_IN_FORWARD = """
class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def __call__(self, x):
        x = self.conv(x)
        x = nn.MaxPool2d(x, kernel_size=2, stride=2)
        return x
"""


def test_mlx274_finds_a_layer_class_called_on_the_forward_input() -> None:
    assert fired(POOLED_IN_FORWARD, "MLX274") == [9]


def test_mlx274_finds_a_layer_class_given_an_mlx_array() -> None:
    code = """
    h = mx.random.normal((4, 16))
    out = nn.LayerNorm(h)
    """
    assert fired(code, "MLX274") == [3]


def test_mlx274_leaves_a_layer_built_in_init_and_applied() -> None:
    code = """
    class Backbone(nn.Module):
        def __init__(self, dims):
            super().__init__()
            self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
            self.norm = nn.LayerNorm(dims)

        def __call__(self, x):
            return self.norm(self.pool(x))
    """
    assert fired(code, "MLX274") == []


def test_mlx274_leaves_sizes_read_from_the_input() -> None:
    code = """
    class Head(nn.Module):
        def __call__(self, x):
            proj = nn.Linear(x.shape[-1], 4)
            return proj(x)
    """
    assert fired(code, "MLX274") == []


def test_mlx274_leaves_a_forward_input_rebound_to_a_size() -> None:
    code = """
    class Head(nn.Module):
        def __call__(self, n):
            n = self.width
            return nn.Linear(n, 4)
    """
    assert fired(code, "MLX274") == []


CONSTANT_ITEM = """
model = nn.Linear(4, 1)

def nll(model, x, y):
    mu = model(x)[:, 0]
    return mx.mean((y - mu) ** 2) + 0.5 * mx.log(2 * mx.pi).item()

vg = nn.value_and_grad(model, nll)
for step in range(10):
    loss, grads = vg(model, x, y)
"""


def test_mlx126_leaves_a_number_made_from_constants_only() -> None:
    assert fired(CONSTANT_ITEM, "MLX126") == []


def test_mlx126_still_finds_a_penalty_made_a_number() -> None:
    code = CONSTANT_ITEM.replace("mx.log(2 * mx.pi).item()", "mx.log(mx.sum(mu ** 2)).item()")
    assert fired(code, "MLX126") == [6]


STORED_SPARSIFIER = """
def make_sparsifier(k):
    def keep_topk(h):
        idx = mx.argpartition(-h, kth=k - 1, axis=-1)[:, :k]
        mask = mx.put_along_axis(mx.zeros_like(h), idx, mx.array(1.0), axis=-1)
        return h * mask
    return keep_topk

class SparseAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(8, 16)
        self.sparsify = make_sparsifier(4)

    def __call__(self, x):
        return self.sparsify(nn.relu(self.enc(x)))

model = SparseAE()

def loss_fn(model, x):
    return mx.mean(model(x) ** 2)

lg = nn.value_and_grad(model, loss_fn)
"""


def test_mlx059_follows_a_function_the_module_stores_from_a_factory() -> None:
    assert fired(STORED_SPARSIFIER, "MLX059") == [4]


def test_mlx059_leaves_the_stored_function_with_its_indices_stopped() -> None:
    code = STORED_SPARSIFIER.replace("idx = mx.argpartition(-h, kth=k - 1, axis=-1)[:, :k]",
                                     "idx = mx.stop_gradient(mx.argpartition(-h, kth=k - 1))")
    assert fired(code, "MLX059") == []


BF16_DICT_SAVE = """
model = nn.Linear(4, 4)
model.set_dtype(mx.bfloat16)
flat = dict(tree_flatten(model.parameters()))
np.savez("ckpt.npz", **{k: np.array(v) for k, v in flat.items()})
"""


def test_mlx119_follows_a_dict_made_of_the_flattened_tree() -> None:
    assert fired(BF16_DICT_SAVE, "MLX119") == [5]


def test_mlx119_leaves_the_dict_cast_before_numpy() -> None:
    code = BF16_DICT_SAVE.replace("np.array(v)", "np.array(v.astype(mx.float32))")
    assert fired(code, "MLX119") == []


SPARSE_VD = """
class SparseLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.theta = mx.zeros((4, 4))
        self.log_sigma2 = mx.zeros((4, 4))

    def log_alpha(self):
        la = self.log_sigma2 - mx.log(self.theta * self.theta + 1e-8)
        return mx.clip(la, -10.0, 10.0)

    def __call__(self, x):
        la = self.log_alpha()
        return x @ self.theta + mx.sum(mx.log1p(mx.exp(-la)))

model = SparseLinear()

def loss_fn(model, x):
    return mx.mean(model(x) ** 2)

lg = nn.value_and_grad(model, loss_fn)
"""


def test_mlx128_reads_a_helper_that_returns_a_clip_as_bounded() -> None:
    assert fired(SPARSE_VD, "MLX128") == []


def test_mlx128_still_finds_the_helper_unclipped() -> None:
    code = SPARSE_VD.replace("return mx.clip(la, -10.0, 10.0)", "return la")
    assert fired(code, "MLX128") == [14]
