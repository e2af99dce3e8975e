"""Bad input to the training loop, the language-model losses, checkpoints, pretrained models and chapter 6's
checkers: a clear error, raised in utils, that names the argument."""

import dataclasses
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import utils.checkpoint as checkpoint
import utils.exercises.pretraining as exercises_pretraining
import utils.lm as lm
import utils.pretrained as pretrained
import utils.training as training
from bad_inputs import BadInput, assert_clear_error, case_id
from utils.exercises import ExerciseError
from utils.transformer import Transformer, TransformerLM, preset

torch.manual_seed(0)
LM = TransformerLM(preset("tiny-gpt2"))  # vocab_size 99
ENCODER = Transformer(preset("tiny-bert"))  # vocab_size 99
TOKENS = np.arange(300, dtype=np.int64) % 99
INPUTS, TARGETS = lm.get_batch(TOKENS, 2, 8, "cpu", torch.Generator().manual_seed(0))
CONFIG = training.TrainConfig(max_steps=1, device="cpu", progress=False)
LINEAR = nn.Linear(2, 1)
ROWS = (torch.randn(4, 2), torch.randn(4, 1))
LOADER = training.tensor_loader(*ROWS, batch_size=2)
mse = nn.functional.mse_loss


def _sgd(model=LINEAR):
    return torch.optim.SGD(model.parameters(), lr=0.1)


def _saved(model=None, extra=None) -> tuple[Path, nn.Module]:
    model = model or nn.Linear(2, 2)
    return checkpoint.save_checkpoint(tempfile.mkdtemp(), 1, model, _sgd(model), extra=extra), model


def _load_truncated():
    path, model = _saved()
    state = path / checkpoint.STATE_FILE
    state.write_bytes(state.read_bytes()[:100])  # a copy cut short
    checkpoint.load_checkpoint(path, model)


def _load_into_another_model():
    path, _ = _saved()
    checkpoint.load_checkpoint(path, nn.Linear(3, 3))


def _load_the_run_folder():
    path, model = _saved()
    checkpoint.load_checkpoint(path.parent, model)


def _resume_with_another_config():
    path, model = _saved(extra={"train_config": dataclasses.asdict(training.TrainConfig(lr=1e-3))})
    checkpoint.resume_checkpoint(path, model, _sgd(model), None, None, dataclasses.asdict(training.TrainConfig(lr=3e-3)))


def _a_file() -> str:
    return tempfile.mkstemp()[1]


class _Tokenizer:
    def encode(self, text):
        return [0]


def _labels(value: int) -> torch.Tensor:
    labels = torch.full((2, 8), -100)
    labels[0, 3] = value
    return labels


ENCODER_BATCH = (INPUTS, torch.ones_like(INPUTS), _labels(5))
SPECIAL = torch.zeros(2, 8, dtype=torch.bool)

CASES = [
    # utils.lm: batches, masking and losses
    BadInput("utils.lm.get_batch", "a window as long as the whole token array",
             lambda: lm.get_batch(TOKENS[:8], 2, 8), ValueError, "seq_len"),
    BadInput("utils.lm.get_batch", "float tokens", lambda: lm.get_batch(TOKENS.astype(np.float32), 2, 8),
             TypeError, "tokens"),
    BadInput("utils.lm.get_batch", "a device torch does not have", lambda: lm.get_batch(TOKENS, 2, 8, "tpu"),
             ValueError, "tpu"),
    BadInput("utils.lm.get_batch", "the device where seq_len goes", lambda: lm.get_batch(TOKENS, 2, "cpu"),
             TypeError, "seq_len"),
    BadInput("utils.lm.get_batch", "a float seq_len", lambda: lm.get_batch(TOKENS, 2, 8.0), TypeError, "seq_len"),
    BadInput("utils.lm.get_batch", "a seed instead of a generator", lambda: lm.get_batch(TOKENS, 2, 8, "cpu", 0),
             TypeError, "generator"),
    BadInput("utils.lm.causal_lm_loss", "a target id >= vocab_size",
             lambda: lm.causal_lm_loss(LM, (INPUTS, TARGETS + 99)), ValueError, "vocab_size"),
    BadInput("utils.lm.causal_lm_loss", "float targets", lambda: lm.causal_lm_loss(LM, (INPUTS, TARGETS.float())),
             TypeError, ".long()"),
    BadInput("utils.lm.causal_lm_loss", "-1 instead of -100 for ignored targets",
             lambda: lm.causal_lm_loss(LM, (INPUTS, TARGETS - TARGETS - 1)), ValueError, "-100"),
    BadInput("utils.lm.causal_lm_loss", "one sequence without its batch dim",
             lambda: lm.causal_lm_loss(LM, (INPUTS[0], TARGETS[0])), ValueError, "inputs"),
    BadInput("utils.lm.causal_lm_loss", "targets not shifted to the inputs' shape",
             lambda: lm.causal_lm_loss(LM, (INPUTS, TARGETS[:, :-1])), ValueError, "same shape"),
    BadInput("utils.lm.causal_lm_loss", "the inputs alone as the batch", lambda: lm.causal_lm_loss(LM, INPUTS),
             TypeError, "batch"),
    BadInput("utils.lm.causal_lm_loss", "model and batch swapped", lambda: lm.causal_lm_loss((INPUTS, TARGETS), LM),
             TypeError, "model"),
    BadInput("utils.lm.mask_tokens", "a special mask of 0/1 ints",
             lambda: lm.mask_tokens(INPUTS, SPECIAL.long(), 98, 95), ValueError, "special_mask"),
    BadInput("utils.lm.mask_tokens", "a percentage instead of a probability",
             lambda: lm.mask_tokens(INPUTS, SPECIAL, 98, 95, mask_prob=15), ValueError, "mask_prob"),
    BadInput("utils.lm.mask_tokens", "float ids", lambda: lm.mask_tokens(INPUTS.float(), SPECIAL, 98, 95),
             TypeError, "input_ids"),
    BadInput("utils.lm.mask_tokens", "the [MASK] token's text instead of its id",
             lambda: lm.mask_tokens(INPUTS, SPECIAL, "[MASK]", 95), TypeError, "mask_id"),
    BadInput("utils.lm.masked_lm_loss", "a GPT instead of an encoder", lambda: lm.masked_lm_loss(LM, ENCODER_BATCH),
             TypeError, "encoder"),
    BadInput("utils.lm.masked_lm_loss", "float labels",
             lambda: lm.masked_lm_loss(ENCODER, (INPUTS, torch.ones_like(INPUTS), _labels(5).float())),
             TypeError, ".long()"),
    BadInput("utils.lm.masked_lm_loss", "a label id >= vocab_size",
             lambda: lm.masked_lm_loss(ENCODER, (INPUTS, torch.ones_like(INPUTS), _labels(99))), ValueError,
             "vocab_size"),
    BadInput("utils.lm.masked_lm_loss", "nothing masked",
             lambda: lm.masked_lm_loss(ENCODER, (INPUTS, torch.ones_like(INPUTS), _labels(-100))), ValueError,
             "masked"),
    BadInput("utils.lm.masked_lm_loss", "the batch without its attention mask",
             lambda: lm.masked_lm_loss(ENCODER, (INPUTS, _labels(5))), TypeError, "attention_mask"),
    # utils.training: the loop and its chapter-2 face
    BadInput("utils.training.accuracy", "float class labels", lambda: training.accuracy(torch.zeros(3, 2), torch.ones(3)),
             TypeError, ".long()"),
    BadInput("utils.training.accuracy", "one row of logits without its batch dim",
             lambda: training.accuracy(torch.zeros(2), torch.ones(1, dtype=torch.int64)), ValueError, "logits"),
    BadInput("utils.training.clip_grad_norm_", "a zero max_norm", lambda: training.clip_grad_norm_([], 0.0),
             ValueError, "max_norm"),
    BadInput("utils.training.clip_grad_norm_", "the model instead of its parameters",
             lambda: training.clip_grad_norm_(LINEAR, 1.0), TypeError, "model.parameters()"),
    BadInput("utils.training.tensor_loader", "a list of rows", lambda: training.tensor_loader([[0.0]], ROWS[1], 2),
             TypeError, "inputs"),
    BadInput("utils.training.tensor_loader", "a float batch size",
             lambda: training.tensor_loader(*ROWS, batch_size=2.5), TypeError, "batch_size"),
    BadInput("utils.training.tensor_loader", "inputs and targets of different lengths",
             lambda: training.tensor_loader(ROWS[0], ROWS[1][:3], 2), ValueError, "first dimension"),
    BadInput("utils.training.train_epoch", "a tensor instead of a loader",
             lambda: training.train_epoch(LINEAR, ROWS[0], _sgd(), mse), TypeError, "loader"),
    BadInput("utils.training.train_epoch", "no loss function (a cell that did not run)",
             lambda: training.train_epoch(LINEAR, LOADER, _sgd(), None), TypeError, "loss_fn"),
    BadInput("utils.training.evaluate", "the loss function where the model goes",
             lambda: training.evaluate(mse, LOADER, LINEAR), TypeError, "model"),
    BadInput("utils.training.train", "zero epochs", lambda: training.train(LINEAR, LOADER, LOADER, _sgd(), mse, 0),
             ValueError, "epochs"),
    BadInput("utils.training.train", "no optimizer", lambda: training.train(LINEAR, LOADER, LOADER, None, mse, 1),
             TypeError, "optimizer"),
    BadInput("utils.training.train", "a patience of 0 epochs",
             lambda: training.train(LINEAR, LOADER, LOADER, _sgd(), mse, 1, early_stopping_patience=0), ValueError,
             "early_stopping_patience"),
    BadInput("utils.training.TrainConfig", "no gradient accumulation steps",
             lambda: training.TrainConfig(grad_accum_steps=0), ValueError, "grad_accum_steps"),
    BadInput("utils.training.TrainConfig", "a float step count", lambda: training.TrainConfig(max_steps=1e3),
             TypeError, "max_steps"),
    BadInput("utils.training.TrainConfig", "lr and min_lr swapped",
             lambda: training.TrainConfig(lr=3e-5, min_lr=3e-4), ValueError, "min_lr"),
    BadInput("utils.training.TrainConfig", "a precision torch does not have",
             lambda: training.TrainConfig(precision="int8"), ValueError, "precision"),
    BadInput("utils.training.TrainConfig", "resume given as text",
             lambda: training.TrainConfig(resume="yes", checkpoint_dir="runs"), TypeError, "resume"),
    BadInput("utils.training.TrainConfig", "one beta", lambda: training.TrainConfig(betas=(0.9,)), ValueError,
             "betas"),
    BadInput("utils.training.TrainConfig", "a warm-up as long as the run",
             lambda: training.TrainConfig(max_steps=10, warmup_steps=10), ValueError, "warmup_steps"),
    BadInput("utils.training.fit", "a loss_fn that returns the loss without n",
             lambda: training.fit(LINEAR, lambda m, b: mse(m(b[0]), b[1]), lambda: ROWS, CONFIG), TypeError,
             "(loss, n)"),
    BadInput("utils.training.fit", "a loss_fn whose n is a float",
             lambda: training.fit(LINEAR, lambda m, b: (mse(m(b[0]), b[1]), 4.0), lambda: ROWS, CONFIG), TypeError,
             "loss_fn's n"),
    BadInput("utils.training.fit", "a loss_fn that returns a loss without gradients",
             lambda: training.fit(LINEAR, lambda m, b: (torch.tensor(1.0), 4), lambda: ROWS, CONFIG), TypeError,
             "loss_fn's loss"),
    BadInput("utils.training.fit", "a batch whose targets are all ignored",
             lambda: training.fit(LM, lm.causal_lm_loss, lambda: (INPUTS, torch.full_like(TARGETS, -100)), CONFIG),
             ValueError, "loss_fn's n"),
    BadInput("utils.training.fit", "a device torch does not have",
             lambda: training.fit(LINEAR, lm.causal_lm_loss, lambda: ROWS,
                                  training.TrainConfig(max_steps=1, device="tpu", progress=False)), ValueError, "tpu"),
    BadInput("utils.training.fit", "a GPU on a machine without one",
             lambda: training.fit(LINEAR, lm.causal_lm_loss, lambda: ROWS,
                                  training.TrainConfig(max_steps=1, device="cuda:7", progress=False)), RuntimeError,
             "cuda"),
    BadInput("utils.training.fit", "the token tensor as the batches", lambda: training.fit(LM, lm.causal_lm_loss,
             torch.from_numpy(TOKENS), CONFIG), TypeError, "batches"),
    BadInput("utils.training.fit", "no loss function", lambda: training.fit(LM, None, lambda: ROWS, CONFIG),
             TypeError, "loss_fn"),
    BadInput("utils.training.fit", "a dict as config", lambda: training.fit(LM, lm.causal_lm_loss, lambda: ROWS,
             {"max_steps": 1}), TypeError, "TrainConfig"),
    BadInput("utils.training.fit", "one callback not in a list",
             lambda: training.fit(LINEAR, lm.causal_lm_loss, lambda: ROWS, CONFIG, callbacks=print), TypeError,
             "callbacks"),
    BadInput("utils.training.fit", "resume with a list of batches",
             lambda: training.fit(LINEAR, lm.causal_lm_loss, [ROWS],
                                  training.TrainConfig(resume=True, checkpoint_dir="x", progress=False)),
             ValueError, "resume=True"),
    BadInput("utils.training.make_optimizer", "a dict as config", lambda: training.make_optimizer(LINEAR, {"lr": 1}),
             TypeError, "config"),
    BadInput("utils.training.make_optimizer", "the model's parameters instead of the model",
             lambda: training.make_optimizer(LINEAR.parameters(), CONFIG), TypeError, "model"),
    BadInput("utils.training.mean_loss", "the batch function instead of a list of batches",
             lambda: training.mean_loss(LM, lm.causal_lm_loss, lambda: (INPUTS, TARGETS)), TypeError, "batches"),
    BadInput("utils.training.mean_loss", "no batches", lambda: training.mean_loss(LM, lm.causal_lm_loss, []),
             ValueError, "batches"),
    BadInput("utils.training.mean_loss", "a loss_fn of (logits, targets)",
             lambda: training.mean_loss(LM, lambda m, b: torch.tensor(1.0), [(INPUTS, TARGETS)]), TypeError,
             "(loss, n)"),
    BadInput("utils.training.StepHistory", "tokens per second of an empty history",
             lambda: training.StepHistory().tokens_per_second(), ValueError, "skip"),
    BadInput("utils.training.StepHistory", "a negative skip",
             lambda: training.StepHistory(step=[1, 2], n_tokens=[1, 1], seconds=[1, 1]).tokens_per_second(-1),
             ValueError, "skip"),
    # utils.checkpoint
    BadInput("utils.checkpoint.set_rng_state", "None", lambda: checkpoint.set_rng_state(None), TypeError, "state"),
    BadInput("utils.checkpoint.set_rng_state", "the torch state alone",
             lambda: checkpoint.set_rng_state({"torch": torch.get_rng_state()}), checkpoint.CheckpointError, "lacks"),
    BadInput("utils.checkpoint.save_checkpoint", "a folder that is a file",
             lambda: checkpoint.save_checkpoint(_a_file(), 1, LINEAR, _sgd()), NotADirectoryError, "folder"),
    BadInput("utils.checkpoint.save_checkpoint", "a float step",
             lambda: checkpoint.save_checkpoint(tempfile.mkdtemp(), 1.0, LINEAR, _sgd()), TypeError, "step"),
    BadInput("utils.checkpoint.save_checkpoint", "the optimizer's name",
             lambda: checkpoint.save_checkpoint(tempfile.mkdtemp(), 1, LINEAR, "adamw"), TypeError, "optimizer"),
    BadInput("utils.checkpoint.latest_checkpoint", "a number", lambda: checkpoint.latest_checkpoint(3), TypeError,
             "folder"),
    BadInput("utils.checkpoint.latest_checkpoint", "a file", lambda: checkpoint.latest_checkpoint(_a_file()),
             NotADirectoryError, "folder"),
    BadInput("utils.checkpoint.load_checkpoint", "a truncated state file", _load_truncated, checkpoint.CheckpointError,
             "truncated"),
    BadInput("utils.checkpoint.load_checkpoint", "a model of another config", _load_into_another_model,
             checkpoint.CheckpointError, "do not fit"),
    BadInput("utils.checkpoint.load_checkpoint", "the run's folder instead of one checkpoint", _load_the_run_folder,
             checkpoint.CheckpointError, "latest_checkpoint"),
    BadInput("utils.checkpoint.load_checkpoint", "a folder that does not exist",
             lambda: checkpoint.load_checkpoint("/no/such/step_000001", LINEAR), checkpoint.CheckpointError,
             "missing"),
    BadInput("utils.checkpoint.load_checkpoint", "model and path swapped",
             lambda: checkpoint.load_checkpoint(LINEAR, "/no/such/step_000001"), TypeError, "path"),
    BadInput("utils.checkpoint.resume_checkpoint", "a checkpoint of a run with another TrainConfig",
             _resume_with_another_config, checkpoint.CheckpointError, "'lr'"),
    BadInput("utils.checkpoint.resume_checkpoint", "the TrainConfig itself instead of its dict",
             lambda: checkpoint.resume_checkpoint("/x", LINEAR, _sgd(), None, None, CONFIG), TypeError,
             "train_config"),
    # utils.pretrained
    BadInput("utils.pretrained.pretrained_dir", "a path instead of a name",
             lambda: pretrained.pretrained_dir("../wikipedia-encoder"), ValueError, "name"),
    BadInput("utils.pretrained.pretrained_dir", "a number", lambda: pretrained.pretrained_dir(3), TypeError, "name"),
    BadInput("utils.pretrained.save_pretrained", "a kind the course does not have",
             lambda: pretrained.save_pretrained(tempfile.mkdtemp(), LM, _Tokenizer(), "gpt"), ValueError, "kind"),
    BadInput("utils.pretrained.save_pretrained", "a model without a config",
             lambda: pretrained.save_pretrained(tempfile.mkdtemp(), LINEAR, _Tokenizer(), "encoder"), TypeError,
             "model"),
    BadInput("utils.pretrained.save_pretrained", "the tokenizer's vocabulary instead of the tokenizer",
             lambda: pretrained.save_pretrained(tempfile.mkdtemp(), LM, {"a": 0}, "causal_lm"), TypeError,
             "tokenizer"),
    BadInput("utils.pretrained.load_pretrained", "a folder that holds no model",
             lambda: pretrained.load_pretrained(tempfile.mkdtemp()), checkpoint.CheckpointError, "lacks"),
    BadInput("utils.pretrained.load_pretrained", "a number", lambda: pretrained.load_pretrained(3), TypeError,
             "folder"),
    BadInput("utils.pretrained.encoder_recipe", "quick given as text", lambda: pretrained.encoder_recipe("yes"),
             TypeError, "quick"),
    BadInput("utils.pretrained.encoder_recipe", "a device instead of its type",
             lambda: pretrained.encoder_recipe(False, torch.device("cpu")), TypeError, "device_type"),
    BadInput("utils.pretrained.train_wikipedia_tokenizer", "a vocabulary smaller than the bytes",
             lambda: pretrained.train_wikipedia_tokenizer(100), ValueError, "vocab_size"),
    BadInput("utils.pretrained.train_wikipedia_tokenizer", "zero texts",
             lambda: pretrained.train_wikipedia_tokenizer(512, 0), ValueError, "n_texts"),
    BadInput("utils.pretrained.wikipedia_mlm_data", "a split named 'validation'",
             lambda: pretrained.wikipedia_mlm_data(_Tokenizer(), 64, "validation"), ValueError, "split"),
    BadInput("utils.pretrained.wikipedia_mlm_data", "rows too short for [CLS] and [SEP]",
             lambda: pretrained.wikipedia_mlm_data(_Tokenizer(), 2, "train"), ValueError, "seq_len"),
    BadInput("utils.pretrained.wikipedia_mlm_data", "no tokenizer",
             lambda: pretrained.wikipedia_mlm_data(None, 64, "train"), TypeError, "tokenizer"),
    BadInput("utils.pretrained.pretrain_encoder", "quick given as text", lambda: pretrained.pretrain_encoder("quick"),
             TypeError, "quick"),
    BadInput("utils.pretrained.load_pretrained_encoder", "quick given as 1",
             lambda: pretrained.load_pretrained_encoder(quick=1), TypeError, "quick"),
    # utils.exercises.pretraining
    BadInput("utils.exercises.pretraining.check_top_p_filter", "None (the cell did not run)",
             lambda: exercises_pretraining.check_top_p_filter(None), ExerciseError, "top_p_filter"),
    BadInput("utils.exercises.pretraining.check_top_p_filter", "a function without p",
             lambda: exercises_pretraining.check_top_p_filter(lambda logits: logits), ExerciseError, "2 arguments"),
    BadInput("utils.exercises.pretraining.check_bits_per_byte", "a function that returns nothing",
             lambda: exercises_pretraining.check_bits_per_byte(lambda loss, n_tokens, n_bytes: None), ExerciseError,
             "return"),
    BadInput("utils.exercises.pretraining.check_bits_per_byte", "the answer's value instead of the function",
             lambda: exercises_pretraining.check_bits_per_byte(1.7), ExerciseError, "bits_per_byte"),
    BadInput("utils.exercises.pretraining.check_nsp_pairs", "None",
             lambda: exercises_pretraining.check_nsp_pairs(None), ExerciseError, "make_nsp_pairs"),
]

NO_BAD_INPUT = {
    "utils.training.History": "a record that train fills; its fields are plain lists with their defaults",
    "utils.training.TrainState": "built by fit for its callbacks, never by a reader",
    "utils.checkpoint.CheckpointError": "an exception type",
    "utils.checkpoint.rng_state": "takes no arguments",
}

DOCUMENTED = {
    "utils.lm.causal_lm_loss": "a batch whose targets are all -100 gives loss nan and n = 0, as torch's "
    "F.cross_entropy(..., ignore_index=-100) does (0 / 0); kept to agree with torch. fit refuses such a batch "
    "(n must be > 0) and mean_loss gives it no weight.",
}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input_gets_a_clear_error_from_utils(case):
    assert_clear_error(case)


def test_every_public_name_of_these_modules_has_a_case_or_a_reason():
    covered = {case.target for case in CASES} | set(NO_BAD_INPUT)
    public = {f"{module.__name__}.{name}" for module in (training, lm, checkpoint, pretrained, exercises_pretraining)
              for name in module.__all__ if callable(getattr(module, name))}
    assert public - covered == set()


def test_all_ignored_targets_give_nan_as_torch_does_and_weigh_nothing_in_mean_loss():
    ignored = torch.full_like(TARGETS, -100)
    loss, n = lm.causal_lm_loss(LM, (INPUTS, ignored))
    logits = LM(INPUTS)
    reference = nn.functional.cross_entropy(logits.flatten(0, 1), ignored.flatten(), ignore_index=-100)
    assert n == 0 and math.isnan(loss.item()) and math.isnan(reference.item())
    counted = lm.causal_lm_loss(LM, (INPUTS, TARGETS))[0].item()
    mixed = training.mean_loss(LM, lm.causal_lm_loss, [(INPUTS, TARGETS), (INPUTS, ignored)])
    assert mixed == pytest.approx(counted, rel=1e-6)  # float32 loss of one batch, read back as a Python float
