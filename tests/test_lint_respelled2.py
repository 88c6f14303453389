"""The second blind re-spelling of the rule families (corpus/lintheld2): the shapes its
scripts took that the rules missed, and the near misses they flagged, each beside the twin
that must stay quiet.

Cost: < 1 s (no MLX).
"""

from __future__ import annotations

from lint_snippets import fired

# MLX010: a zeroed subtree moves only under weight decay ------------------------------------

FREEZE = """
opt = optim.{make}

def step(grads):
    grads["enc"] = tree_map(mx.zeros_like, grads["enc"])
    return grads
"""


def test_mlx010_fires_where_weight_decay_moves_the_zeroed_subtree() -> None:
    assert fired(FREEZE.format(make="AdamW(learning_rate=1e-3)"), "MLX010") == [5]
    assert fired(FREEZE.format(make="SGD(learning_rate=0.1, weight_decay=1e-4)"), "MLX010") == [5]


def test_mlx010_is_quiet_with_an_optimizer_that_has_no_decay() -> None:
    assert fired(FREEZE.format(make="Adam(learning_rate=1e-3)"), "MLX010") == []


# MLX043: moments of shifted data ------------------------------------------------------------

def test_mlx043_is_quiet_on_moments_of_data_shifted_by_a_reference() -> None:
    code = """
    def stats(x):
        d = x - x[:1]
        m1 = d.mean(axis=0)
        return (d * d).mean(axis=0) - m1 * m1
    """
    assert fired(code, "MLX043") == []
    assert fired(code.replace("d = x - x[:1]", "d = x * 1.0"), "MLX043") == [5]


# MLX065: a global set once, or one that changes every step ---------------------------------

BRANCH = """
CFG = 0.0
step = 0

@mx.compile
def train_step(x):
    if {name} > 0:
        return x * 2
    return x

def main():
    global {name}
    {name} = {value}
    for i in range(10):
        train_step(mx.ones((2,)))
        {bump}
"""


def test_mlx065_fires_on_a_global_the_loop_increments() -> None:
    code = BRANCH.format(name="step", value="0", bump="step += 1")
    assert fired(code, "MLX065") == [7]


def test_mlx065_is_quiet_on_a_configuration_set_once_before_the_loop() -> None:
    assert fired(BRANCH.format(name="CFG", value="0.5", bump="pass"), "MLX065") == []


# MLX008: a bounded number of arrays kept -----------------------------------------------------

KEEP = """
vg = nn.value_and_grad(model, loss_fn)
seen = []
for it in range(300):
    loss, grads = vg(model, x)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
    {guard}
        seen.append(loss)
"""


def test_mlx008_is_quiet_when_only_the_first_steps_are_kept() -> None:
    assert fired(KEEP.format(guard="if it < 3:"), "MLX008") == []


def test_mlx008_fires_when_every_other_step_is_kept() -> None:
    assert fired(KEEP.format(guard="if it % 2 == 0:"), "MLX008") == [9]


# MLX002: the log-softmax written in a helper --------------------------------------------------

LOG_PROBS = """
def log_probs(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - mx.log(mx.exp(shifted).sum(axis=-1, keepdims=True))

def objective(model, x, labels):
    lp = log_probs(model(x))
    return {loss}
"""


def test_mlx002_follows_the_log_softmax_into_a_helper() -> None:
    assert fired(LOG_PROBS.format(loss="-mx.mean(lp)"), "MLX002") == [8]


def test_mlx002_is_quiet_when_the_labels_pick_the_log_probabilities() -> None:
    loss = "-mx.mean(mx.take_along_axis(lp, labels[:, None], axis=-1))"
    assert fired(LOG_PROBS.format(loss=loss), "MLX002") == []


# MLX050: a Thread subclass fed through a method ----------------------------------------------

WRITER = """
class Writer(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.records = queue.Queue()

    def run(self):
        while True:
            step, loss = self.records.get()
            print(loss.item())

    def log(self, step, loss):
        self.records.put((step, loss))

writer = Writer()
vg = nn.value_and_grad(model, loss_fn)
for step in range(10):
    loss, grads = vg(model, x)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state{extra})
    writer.log(step, loss)
"""


def test_mlx050_finds_the_call_handing_a_lazy_loss_to_the_threads_queue() -> None:
    assert fired(WRITER.format(extra=""), "MLX050") == [21]


def test_mlx050_is_quiet_when_the_loop_evaluates_the_loss_first() -> None:
    assert fired(WRITER.format(extra=", loss"), "MLX050") == []


# MLX057, MLX051, MLX042, MLX064: other spellings of the same facts -----------------------------

def test_mlx057_reads_a_dotted_base_class() -> None:
    code = """
    class Scaled(nn.Linear):
        pass

    def targets(model):
        return [m for _, m in model.named_modules() if type(m) is nn.Linear]
    """
    assert fired(code, "MLX057") == [6]
    assert fired(code.replace("type(m) is nn.Linear", "isinstance(m, nn.Linear)"),
                 "MLX057") == []


def test_mlx051_finds_a_stream_handed_to_a_thread_as_an_argument() -> None:
    code = """
    def producer(q, stream):
        with mx.stream(stream):
            q.put(mx.ones((2,)))

    def main():
        s = mx.new_stream(mx.default_device())
        threading.Thread(target=producer, args=(q, {given})).start()
    """
    assert fired(code.format(given="s"), "MLX051") == [8]
    assert fired(code.format(given="mx.default_device()"), "MLX051") == []


def test_mlx042_reads_options_parsed_in_a_helper() -> None:
    code = """
    def parse():
        p = argparse.ArgumentParser()
        return p.parse_args()

    def lr_at(step, args):
        return min(1.0, step / {length})

    args = parse()
    for step in range(10):
        optimizer.update(model, grads)
    """
    assert fired(code.format(length="args.warmup"), "MLX042") == [7]
    assert fired(code.format(length="max(1, args.warmup)"), "MLX042") == []


def test_mlx064_reads_a_loaded_checkpoint_as_flat_paths() -> None:
    code = """
    def resume(net, path):
        state = mx.load(path)
        net.update({given}, strict=False)
    """
    assert fired(code.format(given="state"), "MLX064") == [4]
    assert fired(code.format(given="tree_unflatten(list(state.items()))"), "MLX064") == []


# MLX034, MLX039, MLX053: through a named lambda, a builder, a function's state list ---------

QAT = """
class QLinear(nn.Linear):
    def __call__(self, x):
        w = self.weight
        s = mx.stop_gradient(mx.abs(w).max() / 7)
        {body}
        return x @ wq.T

mse = lambda m, a, b: ((m(a) - b) ** 2).mean()
grad_fn = nn.value_and_grad(QLinear(4, 4), mse)
"""


def test_mlx034_sees_the_model_differentiated_through_a_named_lambda() -> None:
    assert fired(QAT.format(body="wq = mx.round(w / s) * s"), "MLX034") == [6]


def test_mlx034_is_quiet_on_a_straight_through_estimator_in_two_lines() -> None:
    body = "q = mx.round(w / s) * s; wq = w + mx.stop_gradient(q - w)"
    assert fired(QAT.format(body=body), "MLX034") == []


def test_mlx039_finds_a_number_a_builder_stores_in_the_differentiated_dict() -> None:
    code = """
    def init(sizes, temperature):
        params = {{"w": mx.zeros((2, 2))}}
        params["temperature"] = {stored}
        return params

    params = init([2, 2], temperature=0.7)
    grad_fn = mx.value_and_grad(loss_fn)
    loss, grads = grad_fn(params, x)
    """
    assert fired(code.format(stored="temperature"), "MLX039") == [4]
    assert fired(code.format(stored="mx.array(temperature)"), "MLX039") == []


def test_mlx053_reads_a_state_list_of_the_compiling_function_and_its_layers_draws() -> None:
    code = """
    class DropConnect(nn.Linear):
        def __call__(self, x):
            keep = mx.random.bernoulli(0.9, self.weight.shape)
            return x @ (self.weight * keep).T

    def main(model, opt):
        state = [model.state, opt.state{extra}]

        @partial(mx.compile, inputs=state, outputs=state)
        def step(x):
            loss, grads = vg(model, x)
            opt.update(model, grads)
            return loss
    """
    assert fired(code.format(extra=""), "MLX053") == [10]
    assert fired(code.format(extra=", mx.random.state"), "MLX053") == []


# MLX066: an inference pass over batches, not a loop over positions --------------------------

INDEX = """
def build_index(encoder, batches):
    vectors = []
    for tokens in {source}:
        hidden = encoder(tokens)
        last = hidden[:, -1, :]
        vectors.append(last)
    return mx.concatenate(vectors)
"""


def test_mlx066_finds_slices_kept_across_an_inference_pass_over_batches() -> None:
    assert fired(INDEX.format(source="loader(batches)"), "MLX066") == [7]


def test_mlx066_is_quiet_on_a_loop_over_positions() -> None:
    assert fired(INDEX.format(source="range(4)"), "MLX066") == []
