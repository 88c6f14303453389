"""A crash's cause read from its traceback: the user's line that raised and what Python's or
MLX's semantics say of it, for crashes whose message alone says too little.

Job: `cause(kind, message, found)` gives a fix hint from evidence any crash has: the
exception's type and message, the innermost frame of the user's code (`tracebacks`:
file:line and the source line Python printed) and the MLX functions the exception passed
through. Each rule below is one statement true of every program with that failure:
- `control_flow_under_transform`: MLX's "[eval] Attempting to eval an array during function
  transformations" raised at a user line that is an `if`/`elif`/`while`/`assert`: Python
  control flow needs the array's value, which does not exist while `mx.compile`, `vmap` or
  a gradient traces the function (mlx issue 1648: a `while` on `mx.any(...)` in a compiled
  function).
- `zero_division`: ZeroDivisionError is raised by Python numbers only (an `mx.array`
  divided by zero gives inf/nan, never an exception), so a denominator on the raising line
  was a Python 0: its expression is named (read with `ast`), and in a training loop it is
  a count: a warm-up or schedule length, a number of batches or steps, a dataset size
  (mlx-examples issue 618: `it / args.lr_warmup` with `--lr_warmup 0`).
- `optimizer_tree_key`: a KeyError raised inside `mlx.optimizers` (`update`,
  `apply_gradients`, `init`): MLX walks the gradients, the parameters and the optimizer's
  state as one tree, so a key in one that the others lack is a mismatch of the three (mlx
  issue 1328: an optimizer state restored from a checkpoint of another model layout).
- `optimizer_tree_list`: an IndexError raised inside `mlx.optimizers`: the same walk met a
  list longer in the gradients or parameters than in the state built at the first update
  (fresh142 `reedwarbler_vq_codec`, VQ-VAE_MLX 6af34a5: a Module's public list attribute
  the forward pass appended to, a parameter that grew at every step: "list index out of
  range" at the second update).
- `optimizer_tree_type`: a TypeError raised inside `mlx.optimizers`: the same walk met a
  container or leaf of another type in the state than in the parameters (fresh24
  `resume_optstate_string_keys_c24`: a state rebuilt by hand from flat keys, the blocks'
  list a dict of '0', '1': "'str' object does not support item assignment").
- `tree_arithmetic`: Python's "unsupported operand type(s)" with a dict or list operand:
  gradients and parameters are trees of arrays (nested dicts), which `+`, `*`, `/` do not
  combine; gradient accumulation is done with `tree_map` (mlx issue 2840).
- `truth_value`: MLX's "[convert] Only length-1 arrays can be converted to Python scalars"
  raised at a user line that tests a truth value (`if`, `elif`, `while`, `assert`, `and`,
  `or`, `not`, anywhere on the line: `a if x else b` too): Python asked `bool()` of an array
  of several elements, most often a comparison, which MLX computes element by element
  (fresh41 `corridor_dqn_first_frame`, mario-rl-mlx 4029fec: `or (state[0] == 1)` meant
  `state.shape[0] == 1`; it raised only once epsilon decayed and the `or` stopped
  short-circuiting).
- `unbound_name`: Python's NameError "name 'x' is not defined": no scope that reaches the
  raising line binds `x`; in a training script most often a setting read bare where it is
  held by an object (`args.x`, `self.x`: fresh43 `adapter_resume_name`, mlx-examples PR 817,
  `resume_adapter_file` for `args.resume_adapter_file` on the resume path only).
  A name that is a standard-library module or an ML package's usual alias (`logging`,
  `np`) is an import the file lacks (fresh251 `ropewalk_tarring_grpo`).
- `scalar_not_iterable`: Python's "'int' object is not iterable" (or float, bool) raised
  at a user line that iterates a name: the name held a number where a collection was meant.
  When the raising frame is a function another user line calls, that name is most often
  one of its parameters bound to the wrong value: a positional call made before the
  function's signature gained or reordered a parameter shifts every later argument one
  slot (fresh47 `vqa_prepare_inputs_positional`, mlx-vlm PR 473: `audio` inserted third,
  the prompts bound to it and the image token id to `prompts`). When that call passes the
  name by keyword, the binding is right and the loop names the wrong value: the collections
  the call hands over are named instead (fresh363 `orchard_crate_gridcells`, koogle/
  mlx-playground 40b680d: `for batch_idx, batch in batch_size:` for `enumerate(train_loader)`);
  otherwise a count iterated as if it were its collection (`for i in n`).
- `unbound_local`: Python's UnboundLocalError ("cannot access local variable 'x' where it
  is not associated with a value", "local variable 'x' referenced before assignment"): the
  function assigns `x` somewhere, so `x` is local throughout it, and the raising line read it
  before any assignment ran: the assignment comes later (a block placed above the one that
  computes it: fresh48 `grpo_kl_order`, mlx-lm-lora 4920af2, the KL penalty added to
  `per_token_loss` before the clipped objective assigned it), sits on a branch not taken, is
  the target of the loop that iterates it (fresh240 `tramline_junction_heads`, mlx PR 819:
  `for k, v in v.items()` in `_unwrap`), or a global was meant.
- `unpacked_array`: "too many values to unpack" / "not enough values to unpack" at a user
  line that unpacks a call's result into names (`logits, _ = model(x)`): the call returned
  one array (an array unpacks along its first axis, one value per row) or a tuple of
  another length: its return changed (fresh49 `lm_tuple_unpack_loss`, mlx-examples PR
  773: a model that once returned `(logits, cache)` returns logits alone).
- `unpacked_shape`: the same errors at a user line that unpacks an array's `.shape` into
  names (`batch_size, seq_length = input_ids.shape`): the array has one axis more (a batch
  axis added to data that already had one: fresh290 `thimble_atlas_vqa`, Qwen2.5-VL LoRA
  notebook 19441a0) or fewer (an example without its batch axis) than the line names.
- `positional_literal`: Python's "'bool' object has no attribute 'shape'" (or int, float,
  str, None) raised inside MLX's own Python code called from a user line that passes a
  literal of that type by position: the literal landed in a parameter that takes an array
  (fresh56 `bce_flag_lands_in_weights`, mlx PR 3807: `binary_cross_entropy(p, y, False)`
  from the docs' old order put `False` in `weights`, not `with_logits`).
- `unpacked_transform`: Python's "cannot unpack non-iterable function object" (or
  `_gc_func`, MLX's own transformed function) at a user line that calls `value_and_grad`,
  `grad`, `vmap`, `vjp` or `jvp`: the transformation's result, a function, was unpacked as
  if it were the values; it must be called first (fresh55 `vgrad_doc_unpack`, mlx issue 273:
  the docs' example wrote `lvalue, grads = mx.value_and_grad(mse)`).
  A string split with no limit (`a, b = name.split(".")`) is told apart: it gives one part
  per separator, so a path with one more dot gives one more (fresh144 `ilab_adapter_ckpt`,
  instructlab ab372a5: split once from the end, `rsplit(".", 1)`).
- `zero_step`: Python's "slice step cannot be zero" or "range() arg 3 must not be zero":
  a step computed at run time was 0, most often an `int()` of a fraction or a floor
  division of a size that is small here (fresh152 `marram_dwq_shallow`, mlx-lm PR 196:
  `int(0.25 * len(model.layers))` is 0 for a model of fewer than 4 layers, and
  `layers[step::step]` raised before DWQ's first step; `max(int(...), 1)` fixed it).
- `index_in_getitem`: an IndexError raised in a user class's `__getitem__`: batchers ask a
  dataset for every index below `len(dataset)` (a length sort, a shuffle, a sampler), so the
  index was one `__len__` counts and `__getitem__` cannot serve: the two disagree at a
  boundary, most often an off-by-one in the mapping of a global index onto parts (fresh249
  `almanac_stitch_lora`, mlx-examples a5b866cf "Fix index calculation": `(curr_idx + 1) <
  len(item)` for `<=` skipped the last item of every part, and the last index ran past the
  collection before the first step).
- `sliced_mapping`: Python's "unhashable type: 'slice'" at a user line that slices (`x[a:b]`,
  `x[-n:]`): the object sliced is a dict, and an `nn.Module` is one (a dict of its members),
  so a container module that keeps its blocks in an inner list is sliced where its list was
  meant (fresh250 `quillwort_adapter_meld`, mlx-plamo "Fix fuse_lora.py":
  `model.model.layers[-lora_layers:]` for `model.model.layers.layers[-lora_layers:]`, a
  decoder module holding the list in its own `.layers`).
- `none_handed_over`: Python's "'NoneType' object has no attribute 'x'" raised in a
  library's code whose line reads `.x` of plain names: the user's call handed one of them over
  as None, passed so or left to a default of None the library does not fill in (fresh283
  `tern_ledger_sft`, Soup 3a549d3: `optimizer=None` handed to mlx-lm's `train`, which reads
  `optimizer.state` before the first step).
`where(found)` names the raising line for any other crash's hint.

Must not import: mlx, anything with side effects.
"""

from __future__ import annotations

import ast
import re
import sys

from .. import syntax
from .tracebacks import Frame, passed, user_frame

GH = "https://github.com/"
EVAL_IN_TRANSFORM = re.compile(r"\[eval\] Attempting to eval an array (during function "
                               r"transformations|without a primitive)")
CONTROL_FLOW = re.compile(r"^(?:if|elif|while|assert)\b")
DIVISIONS = (ast.Div, ast.FloorDiv, ast.Mod)
TREE_OPERAND = re.compile(r"unsupported operand type\(s\) for ([^:]+): (?:'(?:dict|list)' and|"
                          r".* and '(?:dict|list)')")
# a TypeError about a container (not a value of the wrong type: a learning rate read as a
# string is `known_errors`' number_as_string)
STRUCTURE = re.compile(r"does not support item assignment|is not subscriptable|indices must "
                       r"be integers|object is not iterable|is not a mapping")
LINE_CHARS = 160  # a quoted source line is cut here
LENGTH_ONE = "Only length-1 arrays can be converted to Python scalars"
# a read from a configuration (`self.config["image_token_index"]`, `cfg['n_head']`)
CONFIG_READ = re.compile(r"\b(?:config|cfg|conf|hparams|model_args)\s*\[", re.IGNORECASE)
UNBOUND = re.compile(r"name '(\w+)' is not defined")
UNBOUND_LOCAL = re.compile(r"local variable '(\w+)'")
# a truth test anywhere on the line: a statement's (`if x:`), a conditional expression's (`a
# if x else b`: fresh362 `quarry_lattice_molgraph`, mlx-graphs 895e538, `len(self.node_features)
# if self.node_features else None`), a comprehension's filter, `and`/`or`/`not`
TRUTH_TEST = re.compile(r"\b(?:if|elif|while|assert|and|or|not)\b")
UNPACK = re.compile(r"(?:too many|not enough) values to unpack")
UNPACKED_CALL = re.compile(r"^\(?[\w.]+\s*,[\w\s.,*]*\)?\s*=\s*[\w.\[\]]+\(")
NOT_ITERABLE = re.compile(r"'(int|float|bool)' object is not iterable")
NOT_AN_ARRAY = re.compile(r"'(bool|int|float|str|NoneType)' object has no attribute '(\w+)'")
NONE_ATTRIBUTE = re.compile(r"'NoneType' object has no attribute '(\w+)'")
# `batch_size, seq_length = input_ids.shape`: an array's axes unpacked into names
UNPACKED_SHAPE = re.compile(r"^\(?[\w.]+\s*,[\w\s.,*]*\)?\s*=\s*([\w.\[\]'\"]+)\.shape\s*$")
UNPACKED_FUNCTION = re.compile(r"cannot unpack non-iterable (?:_gc_func|function) object")
# `[broadcast_shapes] Shapes (16,24) and (29,1) cannot be broadcast`: a column of values
# against a (rows, length) array
PER_ROW = re.compile(r"\[broadcast_shapes\] Shapes \((?P<rows>\d+),\s*\d+\) and "
                     r"\((?P<count>\d+),\s*1\)")
ROW_COLUMN = re.compile(r"reshape\(\s*-1\s*,\s*1\s*\)|\[:,\s*None\]")
UNHASHABLE_SLICE = "unhashable type: 'slice'"
SLICING = re.compile(r"\[[^\[\]]*:[^\[\]]*\]")
STRING_KEY = re.compile(r"""['"]([^'"]{1,80})['"]""")
TRANSFORM_CALL = re.compile(r"\b(?:value_and_grad|grad|vmap|vjp|jvp)\(")


def cause(kind: str, message: str, found: list[Frame]) -> str | None:
    """The hint of the first rule that explains this crash, or None."""
    if kind == "TypeError" and TREE_OPERAND.search(message):
        return tree_arithmetic(message) + where(found)
    user = user_frame(found)
    if user is None or not user.text:
        return None
    return _python(kind, message, user, found) or _inside_optimizer(kind, message, user, found)


def _python(kind: str, message: str, user: Frame, found: list[Frame]) -> str | None:
    """The rules read from the exception and the user's raising line alone."""
    if kind == "ValueError" and EVAL_IN_TRANSFORM.search(message):
        return control_flow_under_transform(user)
    if kind == "ValueError" and LENGTH_ONE in message and TRUTH_TEST.search(user.text):
        return truth_value(user)
    if kind == "ZeroDivisionError":
        return zero_division(user, found[-1])
    if kind == "NameError" and (name := UNBOUND.search(message)):
        return unbound_name(name.group(1), user)
    if kind == "ValueError" and UNPACK.search(message) and UNPACKED_CALL.match(user.text):
        return unpacked_array(message, user)
    if kind == "ValueError" and UNPACK.search(message) and (
            shape := UNPACKED_SHAPE.match(user.text)):
        return unpacked_shape(message, shape.group(1), user)
    if kind == "UnboundLocalError" and (name := UNBOUND_LOCAL.search(message)):
        return unbound_local(name.group(1), user)
    if kind == "TypeError" and (scalar := NOT_ITERABLE.search(message)) and not passed(found):
        return scalar_not_iterable(scalar.group(1), user, found)
    if kind == "TypeError" and UNPACKED_FUNCTION.search(message) and TRANSFORM_CALL.search(
            user.text):
        return unpacked_transform(user)
    if kind == "AttributeError" and (value := NOT_AN_ARRAY.search(message)) and passed(
            found) and (literal := positional_literal(value.group(1), user, found)):
        return literal
    if kind == "AttributeError" and (none := NONE_ATTRIBUTE.search(message)):
        return none_handed_over(none.group(1), user, found)
    if kind == "ValueError" and (shapes := PER_ROW.search(message)) and ROW_COLUMN.search(
            user.text):
        return per_row_count(int(shapes["rows"]), int(shapes["count"]), user)
    if kind == "ValueError" and ZERO_STEP.search(message):
        return zero_step(user)
    if kind == "KeyError" and (key := STRING_KEY.fullmatch(message.strip())) and not passed(
            found) and read_under(key.group(1), user.text):
        return missing_key(key.group(1), user)
    if kind == "IndexError" and user.function == "__getitem__":
        return index_in_getitem(message, user)
    if kind == "TypeError" and UNHASHABLE_SLICE in message and SLICING.search(user.text):
        return sliced_mapping(user)
    return None


def sliced_mapping(user: Frame) -> str:
    """A dict (an `nn.Module`, a dict of its members) sliced as if it were a list."""
    return (f"`{user.text[:LINE_CHARS]}` ({user.where}) slices a dict: an `nn.Module` is a "
            "dict of its members, so `module[-n:]` looks a slice up as a key; the list is one "
            "of its members: a container module that keeps its blocks in an inner list is "
            "sliced through that list, `model.model.layers.layers[-n:]` (nested layers), or "
            "`list(d.values())[-n:]` for a plain dict (seen in "
            f"{GH}mitmul/mlx-plamo/commit/38e5d75ab6033d2d855b93dce36d802f0e6cac1e)")


def index_in_getitem(message: str, user: Frame) -> str:
    """An index a dataset's own `__len__` counts and its `__getitem__` cannot serve."""
    return (f"a dataset's `__getitem__` raised IndexError ({message.strip()[:40]}) at "
            f"{user.where}: `{user.text[:LINE_CHARS]}`: batchers ask for every index below "
            "`len(dataset)` (a length sort, a shuffle), so `__len__` and `__getitem__` "
            "disagree at a boundary: most often an off-by-one in the index mapping (`<` where "
            "`<=` was meant, a stray `- 1`) or a length that counts items the parts do not "
            "hold; check that `dataset[len(dataset) - 1]` and the last index of each part are "
            f"served (seen in {GH}ml-explore/mlx-examples/commit/"
            "a5b866cf737347bd039448f69be5e50356adf3e5)")


def zero_step(user: Frame) -> str:
    """A slice or range step that came out 0 at run time."""
    return (f"the raising line ({user.where}: `{user.text[:LINE_CHARS]}`) slices or counts "
            "with a step that is 0 here: a step computed from a size, an `int()` of a "
            "fraction (`int(0.25 * len(layers))` is 0 below 4 layers) or a floor division "
            "(`n // k` with n < k), rounds to 0 for a small model, data set or batch count; "
            "clamp it at least 1, `step = max(int(fraction * n), 1)`")


def per_row_count(rows: int, count: int, user: Frame) -> str | None:
    """Values made a column of one per row (`.reshape(-1, 1)`) that are not one per row:
    gathered over the whole batch (fresh129 `parrot_turns_completion_mask`, mlx-vlm PR 777:
    `np.where(input_ids == assistant_id)[1]` gave every marker's column, 29 for 16 rows,
    once a row held two)."""
    if rows == count:
        return None
    return (f"the raising line ({user.where}: `{user.text[:LINE_CHARS]}`) makes a column of "
            f"one value per row (`reshape(-1, 1)`) from {count} values for {rows} rows: they "
            "were gathered over the whole batch, not one per row (a `np.where(ids == "
            "token)[1]` or `argwhere` returns every match, flattened, so a row with two "
            "markers, or none, shifts all the rows after it); take one per row (the first "
            "match of each row, with a fallback where a row has none) and check the count "
            "equals the batch size")


def _inside_optimizer(kind: str, message: str, user: Frame, found: list[Frame]) -> str | None:
    """The rules for an error raised inside `mlx.optimizers`."""
    if not any(n.startswith("mlx.optimizers") for n in passed(found)):
        return None
    if kind == "KeyError":
        return optimizer_tree_key(message, user)
    if kind == "IndexError":
        return optimizer_tree_list(message, user)
    if kind == "TypeError" and STRUCTURE.search(message):
        return optimizer_tree_type(message, user)
    return None


def read_under(key: str, text: str) -> bool:
    """The line subscripts something with the string `key` (`d["loss"]`, `d['loss']`)."""
    return f'["{key}"]' in text or f"['{key}']" in text


def missing_key(key: str, user: Frame) -> str:
    """A dict read on the program's own line under a name it does not hold (fresh352
    `quarry_ledger_patience`, bert-playground 3743ad7: an evaluation returned `eval_loss`,
    the trainer read `loss`)."""
    return (f"the key '{key}' is read on the raising line ({user.where}: "
            f"`{user.text[:LINE_CHARS]}`) from a dict that does not hold it: print the dict's "
            "keys where it is made. Most often a function returns its results under other "
            "names than its caller reads: prefixed (`eval_loss`, `val_loss`, `train/loss`) "
            "or renamed between versions, read back under the bare one; read the name the "
            "producer writes, and use `.get(key, default)` only where a missing key is "
            "expected" + (CONFIG_NAMES if CONFIG_READ.search(user.text) else ""))


# fresh376 `shuttle_weave_tokenkey` (mlx-vlm PR 720): a trainer read
# `self.config["image_token_index"]`, which Qwen2-VL's config names `image_token_id`
CONFIG_NAMES = (". The dict is a model's configuration: families and versions name one "
                "setting differently (`image_token_index` in LLaVA-style configs and "
                "`image_token_id` in Qwen2-VL's; `n_embd` and `hidden_size`; `n_head` and "
                "`num_attention_heads`), so read each name it may have, "
                "`config.get('image_token_index', config.get('image_token_id'))`, and raise "
                "a clear error only when none is there")


def truth_value(user: Frame) -> str:
    """An array of several elements asked for its truth value."""
    return ("an array of more than one element was used as a truth value on the raising "
            f"line ({user.where}: `{user.text[:LINE_CHARS]}`): `if`, `while`, `and`, `or` and "
            "`not` call `bool()` on it, and a comparison of arrays is computed element by "
            "element, so `x == 1` is an array of booleans, not a test; compare a shape or a "
            "Python number (`x.shape[0] == 1`, `len(items) == 1`), or reduce it first "
            "(`mx.all(x == 1).item()`, `mx.any(...)`); an array tested only for being there "
            "(`if self.x`, `a if x else b`) is tested with `x is not None`; an operand of "
            "`or`/`and` that is evaluated only sometimes raises only when it first is")


def unbound_name(name: str, user: Frame) -> str:
    """A name read where no scope binds it; a called one is a function nothing defines."""
    if name in MODULES:
        return missing_import(name, user)
    if re.search(rf"(?<![\w.]){re.escape(name)}\s*\(", user.text):
        return undefined_function(name, user)
    return (f"`{name}` is read on the raising line ({user.where}: "
            f"`{user.text[:LINE_CHARS]}`) but no scope that reaches it binds it: most often "
            f"a field of an object the code holds, read bare (`args.{name}`, "
            f"`self.{name}`, `config.{name}`), a variable bound only in another function "
            "or on a branch not taken, or a misspelling; read it from its owner or bind "
            "it before this line. A NameError on a line that runs only on some paths (a "
            "resume, a checkpoint, a final evaluation) is found only when that path first "
            "runs")


# a standard-library module's name, or the usual alias of an ML package: a NameError on it is
# an import the file lacks (fresh251 `ropewalk_tarring_grpo`, textpolicy 173260e: a trainer
# that called `logging.getLogger` with no `import logging`)
ALIASES = {"np": "import numpy as np", "mx": "import mlx.core as mx", "nn": "import mlx.nn as nn",
           "optim": "import mlx.optimizers as optim", "plt": "import matplotlib.pyplot as plt",
           "pd": "import pandas as pd"}
MODULES = frozenset(sys.stdlib_module_names) - {"this", "antigravity"} | set(ALIASES)


def missing_import(name: str, user: Frame) -> str:
    """A module's name read where the file never imports it."""
    line = ALIASES.get(name, f"import {name}")
    return (f"`{name}` is a module that this file never imports, read on the raising line "
            f"({user.where}: `{user.text[:LINE_CHARS]}`): add `{line}` at the top of the "
            "file. A NameError in a path that runs only when an option is on (debug logging, "
            "an auto-save, a resume) is found only when that path first runs")


def undefined_function(name: str, user: Frame) -> str:
    """A function called where nothing defines it (fresh128 `sgf_joseki_charlm_clip`,
    openai/parameter-golf 36f0109: the `def clip_grad_tree(...)` line was lost, its body left
    after the return of the function before it, and the loop's call raised at its first
    step; fresh233 `kiln_glaze_completions`, mlx-lm PR 591: a dataset still calling
    `_apply_chat_template_safe`, which a refactor had removed)."""
    return (f"`{name}` is called on the raising line ({user.where}: "
            f"`{user.text[:LINE_CHARS]}`) but it is not defined where that line runs: no "
            f"`def {name}`, import or assignment reaches it. Most often a helper a refactor "
            "removed or renamed while a caller still uses it (call what replaced it), a "
            "function whose `def` line was lost in an edit (its body left indented after the "
            "function before it, unreachable), a helper defined in another file and never "
            "imported, one defined only under a branch not taken or after the call runs, or "
            f"a misspelling; define it (`def {name}(...):`) or import it before this line")


# a string split with no limit (`name.split(".")`, `line.split()`): as many parts as the
# separator occurs, whatever the names it is unpacked into
ZERO_STEP = re.compile(r"slice step cannot be zero|range\(\) arg 3 must not be zero")
STRING_SPLIT = re.compile(r"\.split\(\s*(?:(?:sep\s*=\s*)?(?:\"[^\"]*\"|'[^']*'))?\s*\)\s*$")


def unpacked_array(message: str, user: Frame) -> str:
    """A call's result unpacked into more (or fewer) names than it holds."""
    call = user.text.split("=", 1)[1].strip()
    if STRING_SPLIT.search(call):
        return unpacked_split(message, user, call)
    return (f"the raising line ({user.where}: `{user.text[:LINE_CHARS]}`) unpacks what "
            f"`{call[:60]}` returns into names, and it holds another number of values "
            f"({message.strip()[:60]}): it returns one array, which unpacks along its first "
            "axis (one value per row, so the count is the batch size), or a tuple of another "
            "length: its return changed (a model that returned `(logits, cache)` now returns "
            "the logits alone); assign it whole, `logits = model(inputs)`, or unpack what it "
            "returns now")


def unpacked_shape(message: str, array: str, user: Frame) -> str:
    """An array's shape unpacked into names, and the array has another number of axes
    (fresh290 `thimble_atlas_vqa`, Qwen2.5-VL LoRA notebook 19441a0: `batch_size, seq_length
    = input_ids.shape` raised "too many values to unpack (expected 2)" after the loop added
    a batch axis to items the dataset had already batched)."""
    more = "too many" in message
    axis = ("one axis more than the line names: a batch axis added to data that already has "
            "one (`mx.expand_dims(x, 0)` or `x[None]` on a processor's or dataset's output, "
            "which is already batched, `(1, 1, L)`), items stacked that were batches "
            "themselves, or a list of lists made one array (`all.append(items)` where "
            "`all.extend(items)` keeps the list flat)" if more else
            "fewer axes than the line names: a single example given without its batch axis, "
            "or an axis squeezed away")
    fix = ("drop the extra axis where the batch is built (add a batch axis only to unbatched "
           f"items), or `{array} = {array}.squeeze(0)`" if more else
           f"add the batch axis, `{array} = {array}[None]`, where the batch is built")
    return (f"the raising line ({user.where}: `{user.text[:LINE_CHARS]}`) unpacks the axes of "
            f"`{array}` ({message.strip()[:60]}): it has {axis}; check `{array}.shape` where "
            f"the batch is built; fix: {fix}")


def unpacked_split(message: str, user: Frame, call: str) -> str:
    """A string split with no limit, unpacked into a fixed number of names (fresh144
    `ilab_adapter_ckpt`, instructlab ab372a5: `a, b = adapter_file.split(".")` raised once the
    adapter's path held a second dot)."""
    return (f"the raising line ({user.where}: `{user.text[:LINE_CHARS]}`) unpacks `{call[:60]}` "
            f"into a fixed number of names ({message.strip()[:60]}), but a split with no limit "
            "gives one part per separator found: a path or file name with one more dot (a "
            "directory `run.v2/`, `adapters.0100.npz`, `model.safetensors.index`) or one more "
            "space gives one more part; split once from the end, `stem, ext = "
            "path.rsplit(\".\", 1)` (or `split(sep, maxsplit=1)` from the start), or use "
            "`os.path.splitext(path)` / `Path(path).stem` and `.suffix` for a file name")


def unbound_local(name: str, user: Frame) -> str:
    """A local read before the function assigned it."""
    return (f"`{name}` is read on the raising line ({user.where}: `{user.text[:LINE_CHARS]}`) "
            f"before anything assigned it on the path taken: `{user.function}` assigns "
            f"`{name}` somewhere, so it is local throughout, but that assignment comes after "
            "this line (a block placed above the one that computes it), sits on a branch "
            f"that did not run, is the loop variable of the loop that iterates it (`for k, "
            f"{name} in {name}.items()`: the loop's target makes `{name}` local, so the "
            f"`{name}` it iterates is unbound; iterate the outer value), or a global was "
            f"meant (`global {name}`); move this line after the assignment that computes "
            f"`{name}`, or bind it first on every path")


def scalar_not_iterable(kind: str, user: Frame, found: list[Frame]) -> str:
    """A number iterated: named, and the call that may have bound it."""
    names = iterated(user.text)
    what = f"`{names[0]}`" if len(names) == 1 else "the value iterated"
    head = (f"{what} held {'an' if kind == 'int' else 'a'} {kind} where a collection was "
            f"meant ({user.where}: `{user.text[:LINE_CHARS]}`)")
    caller = _caller(user, found)
    others = by_keyword(caller, user.function, names[0]) if caller and names else None
    if caller is not None and others is not None:
        return head + wrong_name(names[0], user, caller, others)
    if caller is not None and names:
        head += (f": `{names[0]}` is iterated in `{user.function}`, which {caller.where} "
                 f"calls; when it is one of `{user.function}`'s parameters, the call bound "
                 "a value to the wrong parameter: a positional call written before the "
                 "function's signature gained or reordered a parameter (an API update, a "
                 "shared helper changed) shifts every later argument one slot; pass the "
                 f"arguments by keyword (`{user.function}(..., {names[0]}={names[0]})`) "
                 "and check the signature")
    return head + ("; when it is a local, it holds a count where its collection was "
                   "meant (`for i in range(n)`, not `for i in n`)")


# a name that says it holds many (`train_loader`, `batches`, `dataset`), offered first
COLLECTION = re.compile(r"(?i)loader|data|batches|iter|samples|examples|items|pairs|_set$|"
                        r"_list$")


def by_keyword(caller: Frame, function: str, name: str) -> list[str] | None:
    """The other plain names the caller's call of `function` hands over, when it passes
    `name` by keyword (`train_epoch(model, train_loader, batch_size=batch_size)`: the number
    is bound where it was meant), else None."""
    for call in _calls(caller.text):
        callee = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(
            call.func, "id", None)
        if callee == function and any(k.arg == name for k in call.keywords):
            given = [*call.args, *(k.value for k in call.keywords)]
            return [a.id for a in given if isinstance(a, ast.Name) and a.id != name]
    return None


def wrong_name(name: str, user: Frame, caller: Frame, others: list[str]) -> str:
    """The loop iterates a number the call bound by keyword: it names the wrong value
    (fresh363 `orchard_crate_gridcells`, koogle/mlx-playground 40b680d: `for batch_idx, batch
    in batch_size:` where `enumerate(train_loader)` was meant)."""
    counted = _counted(user.text, name)
    others = [o for o in others if COLLECTION.search(o)] or others
    shown = ", ".join(f"`enumerate({o})`" if counted else f"`{o}`" for o in others[:4])
    return (f": {caller.where} hands `{name}` to `{user.function}` by keyword, so it holds the "
            "number it names; the loop iterates the wrong name. Iterate the collection the call "
            f"hands over instead" + (f" ({shown})" if shown else "") + (
                ": a loop that unpacks a counter and an item iterates `enumerate(loader)`"
                if counted else ""))


def _counted(line: str, name: str) -> bool:
    """The line's loop over `name` unpacks two names (`for i, batch in ...`)."""
    return any(n.iter.id == name and isinstance(n.target, ast.Tuple)  # type: ignore[attr-defined]
               and len(n.target.elts) == 2 for n in _name_loops(line))


LITERAL_TYPES = {"bool": bool, "int": int, "float": float, "str": str, "NoneType": type(None)}


def positional_literal(kind: str, user: Frame, found: list[Frame]) -> str | None:
    """A Python value reached an MLX function where an array was meant, and the user's call
    gives a literal of that type by position: it landed in another parameter."""
    literals = [ast.unparse(a) for call in _calls(user.text) for a in call.args
                if isinstance(a, ast.Constant) and type(a.value) is LITERAL_TYPES[kind]]
    if not literals:
        return None
    inside = passed(found)[0]
    return (f"a {kind} reached `{inside}` where it takes an array, and the call at "
            f"{user.where} (`{user.text[:LINE_CHARS]}`) passes `{literals[0]}` by position: "
            "that position is another parameter than the one meant (an argument order read "
            "from an older signature or docs, or a parameter added before it); pass it by "
            f"keyword (`name={literals[0]}`) and check the function's signature")


def none_handed_over(attr: str, user: Frame, found: list[Frame]) -> str | None:
    """None reached a library function that reads an attribute of what it was given: the
    raising frame is the library's, and its line reads `.attr` of plain names, one of which
    the user's call handed over as None."""
    inner = found[-1]
    names = [n for n in dict.fromkeys(re.findall(rf"(?<![\w.])([A-Za-z_]\w*)\.{attr}\b",
                                                 inner.text)) if n != "self"]
    if inner is user or not inner.library or not names:
        return None
    which = " or ".join(f"`{n}`" for n in names)
    return (f"{which} reached `{inner.module}.{inner.function}` as None ({inner.where}: "
            f"`{inner.text[:LINE_CHARS]}` reads `.{attr}` of it): the call at {user.where} "
            f"(`{user.text[:LINE_CHARS]}`) hands it None, passed as None or left to a "
            "parameter's default of None that the library does not fill in; build the object "
            f"before the call and pass it (`{names[-1]}={names[-1]}`)")


def _calls(line: str) -> list[ast.Call]:
    """The calls on one source line (none when it does not parse alone: `_parse`)."""
    tree = _parse(line)
    return [] if tree is None else [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def unpacked_transform(user: Frame) -> str:
    """A transformation's result unpacked as if it were its values."""
    return (f"the raising line unpacks what a transformation returns ({user.where}: "
            f"`{user.text[:LINE_CHARS]}`): `mx.value_and_grad(f)`, `nn.value_and_grad(model, "
            "f)` and `mx.grad(f)` return a function, not values; call the returned function "
            "with the arguments first: `loss_and_grad = mx.value_and_grad(f); value, grads = "
            "loss_and_grad(params, x, y)` (the docs' example was wrong once: "
            "https://github.com/ml-explore/mlx/issues/273)")


def iterated(line: str) -> list[str]:
    """The plain names a source line iterates: `for x in NAME`, `[... for x in NAME]`."""
    return list(dict.fromkeys(loop.iter.id for loop in _name_loops(line)))


def _name_loops(line: str) -> list[ast.For | ast.comprehension]:
    """The loops and comprehensions of a source line that iterate a plain name."""
    tree = _parse(line)
    return [] if tree is None else [
        n for n in ast.walk(tree)
        if isinstance(n, (ast.For, ast.comprehension)) and isinstance(n.iter, ast.Name)]


def _caller(user: Frame, found: list[Frame]) -> Frame | None:
    """The user frame that called the raising frame's function on its line, or None."""
    at = found.index(user)
    before = found[at - 1] if at > 0 else None
    if before is None or before.library or user.function.startswith("<"):
        return None
    return before if f"{user.function}(" in before.text else None


def where(found: list[Frame]) -> str:
    """` (raised at train.py:51: `line`)` for the user's innermost frame, naming the MLX
    function that raised when the error came from MLX's Python code; "" without one."""
    user = user_frame(found)
    if user is None:
        return ""
    text = f": `{user.text[:LINE_CHARS]}`" if user.text else ""
    inner = passed(found)
    via = f" inside `{inner[0]}`, called" if inner and found[-1].library else ""
    return f" (raised{via} at {user.where}{text})"


def control_flow_under_transform(user: Frame) -> str | None:
    if not CONTROL_FLOW.match(user.text):
        return None
    word = user.text.split()[0].rstrip(":")
    return (f"`{user.text[:LINE_CHARS]}` ({user.where}) is Python control flow on an array's "
            f"value inside a function under `mx.compile` (or `vmap`, a gradient): compile "
            f"traces the function once, without values, so a data-dependent `{word}` "
            "condition cannot be evaluated there; make the loop or branch data-independent "
            "(a fixed-count `for _ in range(n)` with `x = mx.where(cond, new, x)` inside), "
            "or keep that part out of the compiled function and compile the rest (seen in "
            f"{GH}ml-explore/mlx/issues/1648)")


def tree_arithmetic(message: str) -> str:
    found = TREE_OPERAND.search(message)
    op = found.group(1).strip() if found else "+"
    return (f"`{op}` was applied to a dict or list: MLX's gradients and parameters are trees "
            "(nested dicts and lists of arrays), not arrays, so they are combined leaf by "
            "leaf: `acc = tree_map(mx.add, acc, grads)`, `grads = tree_map(lambda g: g / n, "
            "grads)` (`from mlx.utils import tree_map`), with `mx.eval(acc)` after each "
            f"micro-step (seen in {GH}ml-explore/mlx/issues/2840)")


def optimizer_tree_key(message: str, user: Frame) -> str:
    return (f"the optimizer met key {message.strip()[:80]} in one of the gradients, the "
            f"model's parameters and its own state but not in another ({user.where}: "
            f"`{user.text[:LINE_CHARS]}`): gradients taken from another model or built by "
            "hand, a model changed (layers added, LoRA applied, frozen) after the optimizer's "
            "state was built (an array the forward pass stores on the module, `self.skip "
            "= x` in `__call__`, becomes a new parameter after the first step: keep "
            "activations in local variables, or under a name starting with `_`, which "
            "Module does not collect), or a state loaded from another model's checkpoint; take the "
            "gradients from the model you update, `loss, grads = nn.value_and_grad(model, "
            "loss_fn)(model, x, y); optimizer.update(model, grads)`, and build a fresh "
            "optimizer after changing the model (seen in "
            f"{GH}ml-explore/mlx/issues/1328)")


def optimizer_tree_list(message: str, user: Frame) -> str:
    return (f"the optimizer met a list longer in the gradients or the parameters than in its "
            f"own state ({message.strip()[:80]}; {user.where}: `{user.text[:LINE_CHARS]}`): "
            "MLX walks the three as one tree, built at the first update, so the model's "
            "parameter tree changed after it: a public list or array attribute of a Module "
            "is a parameter (Module is a dict of its attributes), and one the forward pass "
            "appends to (`self.vals.append(penalty)`) or reassigns grows the tree at every "
            "step; keep such bookkeeping under a private name prefixed with `_` "
            "(`self._vals`), which Module does not collect, and reset it each step, or "
            "build a fresh optimizer after changing the model (seen in "
            f"{GH}credwood/VQ-VAE_MLX/commit/6af34a5bb89bd58a19b6f8ecd949df65c41e6483)")


def optimizer_tree_type(message: str, user: Frame) -> str:
    return (f"the optimizer met a node of another type in its own state than in the "
            f"parameters ({message.strip()[:80]}; {user.where}: `{user.text[:LINE_CHARS]}`): "
            "MLX walks the gradients, the parameters and the optimizer state as one tree, so "
            "their containers must match: a state restored from a flat checkpoint "
            "(`tree_flatten` keys such as `layers.0.weight`) rebuilt by hand as nested dicts "
            "turns a list of layers into a dict with string keys '0', '1'; rebuild it with "
            "`optimizer.state = tree_unflatten(list(flat.items()))` (`from mlx.utils import "
            "tree_unflatten`: numeric keys become lists), or build a fresh optimizer (seen in "
            f"{GH}ml-explore/mlx/issues/1328)")


def zero_division(user: Frame, raising: Frame) -> str:
    """A Python 0 divided by (fresh235 `purser_manifest_pooling`, bert-playground 72af8f7: a
    data stream built once, exhausted by the first epoch, 0 batches in the second)."""
    named = denominators(user.text) if raising is user else []
    guard = f"`max({named[0]}, 1)`" if named else "`max(n, 1)`"
    return (f"{_zero_named(named)} a Python 0 at {user.where}: `{user.text[:LINE_CHARS]}` (an "
            "`mx.array` divided by zero gives inf, so this is a plain number): in a training "
            "loop a count that can be zero: a warmup or schedule length set to 0, an empty "
            "dataset or a batch count of 0 (a generator or single-pass data stream built "
            "once and iterated every epoch is exhausted after the first pass, or after a "
            "validation pass that shares it: build a new one each epoch); guard the "
            f"division, {guard}, or skip that term "
            "when the count is 0 (a warmup of 0 steps means no warmup; seen in "
            f"{GH}ml-explore/mlx-examples/issues/618)")


def _zero_named(named: list[str]) -> str:
    if not named:
        return "a denominator (or a count this line passes on) was"
    quoted = ", ".join(f"`{d}`" for d in named)
    return f"{quoted} was" if len(named) == 1 else f"one of {quoted} was"


def denominators(line: str) -> list[str]:
    """The right-hand sides of `/`, `//` and `%` in one source line, as written."""
    tree = _parse(line)
    if tree is None:
        return []
    found = [ast.unparse(n.right) for n in ast.walk(tree)
             if isinstance(n, ast.BinOp) and isinstance(n.op, DIVISIONS)]
    return list(dict.fromkeys(found))


def _parse(line: str) -> ast.AST | None:
    """A lone source line as a tree: a compound statement's header gets a body, `elif`
    becomes `if`; None when it is a fragment of a longer statement."""
    text = re.sub(r"^elif\b", "if", line.strip())
    for attempt in (text, f"{text} pass", f"{text}\n    pass"):
        try:
            return syntax.parse(attempt)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
    return None
