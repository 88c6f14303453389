"""Stop 75's lint changes, on the spelling their corpus case had and on the ones the rules must
still find: MLX023 leaving a compiled loss that loads its own argument into the model alone,
MLX126 leaving a NumPy-computed constant added to a loss alone.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

from lint_snippets import HEADER, fired

COMPILED = """
model = nn.Linear(4, 2)
optimizer = optim.Adam(learning_rate=1e-3)


@mx.compile
def loss_fn(params, x, y):
    model.update(LOADED)
    return nn.losses.cross_entropy(model(x), y).mean()


for x, y in batches():
    loss, grads = mx.value_and_grad(loss_fn)(model.parameters(), x, y)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
"""


def test_a_compiled_loss_that_loads_its_own_argument_into_the_model_is_left_alone() -> None:
    # fresh258 millrace_sluice_scan (mlx-playground 50b6d7a): the fixed twin reaches val acc 1.0
    assert fired(COMPILED.replace("LOADED", "params"), "MLX023") == []


def test_a_compiled_function_that_loads_a_tree_it_made_is_still_found() -> None:
    made = COMPILED.replace("LOADED", "tree_map(lambda p: p * 0.5, params)")
    assert fired(made, "MLX023") == [6]
    assert fired(COMPILED.replace("LOADED", "new_params"), "MLX023") == [6]


PENALISED = """
def nll(model, x, y):
    mu, lv = model(x)
    return (0.5 * (lv + (y - mu) ** 2 * mx.exp(-lv))).mean() + SHIFT


loss_and_grad = nn.value_and_grad(model, nll)
"""


def test_a_numpy_constant_added_to_a_loss_is_left_alone() -> None:
    # fresh258 sledteam_pace_hold: `+ float(np.log(ys))`, ys a NumPy standard deviation
    assert fired(PENALISED.replace("SHIFT", "float(np.log(ys))"), "MLX126") == []
    with_math = HEADER + "import math\n"
    assert fired(PENALISED.replace("SHIFT", "float(math.log(two))"), "MLX126", with_math) == []


def test_an_array_made_a_float_in_a_loss_is_still_found() -> None:
    assert fired(PENALISED.replace("SHIFT", "float(mx.log(ys))"), "MLX126") == [4]
    assert fired(PENALISED.replace("SHIFT", "float(penalty)"), "MLX126") == [4]


LOG_SOFTMAX = """
def log_softmax(x, axis=-1):
    x_max = mx.max(x, axis=axis, keepdims=True)
    x_exp = mx.exp(x - x_max)
    x_exp_sum = mx.sum(x_exp, axis=axis, keepdims=True)
    return LOGGED
"""


def test_the_log_of_an_exp_is_found() -> None:
    # fresh260 quarry_gravel_moe_logits (simple_moe 7c0e913): -inf for a class 88 below the max
    logged = "mx.log(x_exp) - mx.log(x_exp_sum)"
    assert fired(LOG_SOFTMAX.replace("LOGGED", logged), "MLX022") == [6]
    assert fired("\ny = mx.log(mx.exp(x - mx.max(x, axis=-1)))\n", "MLX022") == [2]


def test_the_log_of_a_sum_of_exps_or_of_one_plus_an_exp_is_left_alone() -> None:
    fused = "x - x_max - mx.log(x_exp_sum)"
    assert fired(LOG_SOFTMAX.replace("LOGGED", fused), "MLX022") == []
    assert fired("\ny = mx.log(1 + mx.exp(z))\n", "MLX022") == []
    # a learned log-scale taken back to its log (fresh34 weibull_aft_censored_headers)
    assert fired("\nk = mx.exp(model.log_k)\ny = mx.log(k)\n", "MLX022") == []


TRAINER = """
class Trainer:
    def train_step(self, x, y):
        loss, grads = nn.value_and_grad(self.model, self.loss_fn)(self.model, x, y)
        self.optimizer.update(self.model, grads)
        READ
        return loss

    def train(self, batches):
        for x, y in batches:
            self.train_step(x, y)
"""


def test_an_update_in_a_helper_that_reads_its_loss_at_every_call_is_left_alone() -> None:
    # fresh261 erbgate_denoise_cliptrainer_ok: mx.eval(loss) after the update in train_step
    assert fired(TRAINER.replace("READ", "mx.eval(loss)"), "MLX001") == []


def test_an_update_in_a_helper_that_reads_nothing_or_only_sometimes_is_still_found() -> None:
    assert fired(TRAINER.replace("READ", "pass"), "MLX001") == [5]
    sometimes = "if self.step % 10 == 0:\n            mx.eval(loss)"
    assert fired(TRAINER.replace("READ", sometimes), "MLX001") == [5]


def test_an_ellipsis_as_a_slice_bound_is_found() -> None:
    # fresh261 kelp_lidar_finepass (nerf_meets_mlx 8b5ef8c): `z_vals[... :, None]`
    assert fired("\npts = o[..., None, :] + d[..., None, :] * z[... :, None]\n", "MLX253") == [2]
    assert fired("\ny = x[1:..., 0]\n", "MLX253") == [2]


def test_an_ellipsis_beside_slices_is_left_alone() -> None:
    assert fired("\npts = o[..., None, :] + d[..., None, :] * z[..., :, None]\n", "MLX253") == []
    assert fired("\ny = x[..., 1:]\ndef f(): ...\n", "MLX253") == []


HALF_MASK = """
def forward(self, ids, attention_mask):
    h = self.emb(ids).astype(mx.float16)
    mask = (1.0 - attention_mask[:, None, :].astype(h.dtype)) * FILL
    return h, mask
"""


def test_a_float16_mask_times_a_constant_past_its_range_is_found() -> None:
    # fresh25 halfmask_embed: (1 - m) * -1e9 in float16 is [nan, -inf] (measured)
    assert fired(HALF_MASK.replace("FILL", "-1e9"), "MLX123") == [4]


def test_a_float16_mask_times_a_finite_fill_or_a_float32_mask_is_left_alone() -> None:
    assert fired(HALF_MASK.replace("FILL", "mx.finfo(h.dtype).min"), "MLX123") == []
    assert fired(HALF_MASK.replace("FILL", "-1e4"), "MLX123") == []
    float32 = HALF_MASK.replace("mx.float16", "mx.float32").replace("FILL", "-1e9")
    assert fired(float32, "MLX123") == []


SCORER = """
class Scorer:
    def _tokenize(self, texts):
        return [t.split() for t in texts]

    def rolling(self, requests):
        inputs = self._tokenize(requests)
        return [len(b) for b in READ]


model, optimizer, grads = nn.Linear(2, 2), optim.SGD(learning_rate=0.1), {}
for step in range(3):
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
scores = Scorer().rolling(["a b"])
"""


def test_a_method_called_after_training_that_reads_another_methods_parameter_is_found() -> None:
    # fresh262 marten_ledger_rolling (mlx-lm PR 339): `texts` in loglikelihood_rolling
    assert fired(SCORER.replace("READ", "texts"), "MLX047") == [8]
    assert fired(SCORER.replace("READ", "inputs"), "MLX047") == []


TRAINER_HOOK = """
class PreferenceTrainer:
    def __init__(self, model, rows, formatting_func, batch_size=4):
        self.model = model
        self.rows = rows
        self.formatting_func = formatting_func
        self.batch_size = batch_size

    def batches(self):
        for i in range(0, len(self.rows), self.batch_size):
            yield build(self.rows[i:i + self.batch_size]USED)
"""


def test_a_function_given_to_a_constructor_and_never_read_is_found() -> None:
    # fresh258 quillwort_pairs_orpo (unsloth-zoo 61c5829): formatting_func kept, never applied
    assert fired(TRAINER_HOOK.replace("USED", ""), "MLX254") == [6]


def test_a_hook_that_is_read_or_a_stored_value_that_names_no_function_is_left_alone() -> None:
    used = TRAINER_HOOK.replace("USED", ", self.formatting_func")
    assert fired(used, "MLX254") == []
    renamed = TRAINER_HOOK.replace("formatting_func", "fname_tokenizer").replace("USED", "")
    assert fired(renamed, "MLX254") == []
