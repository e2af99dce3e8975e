"""Bad input to chapter 10's modules (export, compression, serving, privacy): a clear error, raised in utils."""

import numpy as np
import pytest
import torch

import utils.compression as compression
import utils.export as export
import utils.privacy as privacy
import utils.serving as serving
from bad_inputs import BadInput, assert_clear_error, case_id
from utils.classifiers import EncodedTexts, SequenceClassifier
from utils.transformer import Transformer, preset


def _classifier():
    return SequenceClassifier(Transformer(preset("tiny-bert")), 2)


def _tokenizer():
    from transformers import AutoTokenizer

    from utils.data import minilm_dir

    return AutoTokenizer.from_pretrained(minilm_dir())


class _FakeSession:
    def run(self, *args):
        return None

    def get_inputs(self):
        return []


def _reports():
    reports = compression.compare_latency({"a": lambda t: None}, ["x", "y"], batch_size=2, n_single=2, n_batch=1)
    return reports


def _encoded(n=4):
    ids = torch.ones(n, 5, dtype=torch.int64)
    return EncodedTexts(ids, torch.ones_like(ids))


_X, _Y = torch.randn(8, 3), torch.randint(0, 2, (8,))
_LOGITS = torch.randn(4, 2)

CASES = [
    # export
    BadInput("utils.export.export_onnx", "a state dict instead of the model",
             lambda: export.export_onnx(_classifier().state_dict(), "m.onnx"), TypeError, "model"),
    BadInput("utils.export.export_onnx", "a path without .onnx", lambda: export.export_onnx(_classifier(), "model.pt"),
             ValueError, ".onnx"),
    BadInput("utils.export.export_onnx", "an example of one token",
             lambda: export.export_onnx(_classifier(), "m.onnx", example_len=1), ValueError, "example_len"),
    BadInput("utils.export.quantize_onnx_int8", "a source that does not exist",
             lambda: export.quantize_onnx_int8("missing.onnx", "out.onnx"), FileNotFoundError, "export_onnx"),
    BadInput("utils.export.quantize_onnx_int8", "a target without .onnx",
             lambda: export.quantize_onnx_int8("missing.onnx", "out"), ValueError, "target"),
    BadInput("utils.export.onnx_session", "a file that does not exist", lambda: export.onnx_session("nothing.onnx"),
             FileNotFoundError, "path"),
    BadInput("utils.export.onnx_session", "zero threads", lambda: export.onnx_session("nothing.onnx", threads=0),
             ValueError, "threads"),
    BadInput("utils.export.onnx_session", "a number as the path", lambda: export.onnx_session(3), TypeError, "path"),
    BadInput("utils.export.onnx_session", "spinning given as text",
             lambda: export.onnx_session("nothing.onnx", spinning="yes"), TypeError, "spinning"),
    BadInput("utils.export.TorchTextClassifier", "the tokenizer's name instead of the tokenizer",
             lambda: export.TorchTextClassifier(_classifier(), "minilm"), TypeError, "tokenizer"),
    BadInput("utils.export.TorchTextClassifier", "one string instead of a list",
             lambda: export.TorchTextClassifier(_classifier(), _tokenizer())("a film"), TypeError, "texts"),
    BadInput("utils.export.TorchTextClassifier", "a model that is not a module",
             lambda: export.TorchTextClassifier(lambda x: x, _tokenizer()), TypeError, "model"),
    BadInput("utils.export.OnnxTextClassifier", "a path instead of a session",
             lambda: export.OnnxTextClassifier("m.onnx", _tokenizer()), TypeError, "session"),
    BadInput("utils.export.OnnxTextClassifier", "a session with other inputs",
             lambda: export.OnnxTextClassifier(_FakeSession(), _tokenizer()), ValueError, "inputs"),
    # compression
    BadInput("utils.compression.compare_latency", "one function instead of a dict",
             lambda: compression.compare_latency(lambda t: None, ["x"]), TypeError, "predictors"),
    BadInput("utils.compression.compare_latency", "fewer sentences than a batch",
             lambda: compression.compare_latency({"a": lambda t: None}, ["x"], batch_size=4), ValueError,
             "batch_size"),
    BadInput("utils.compression.compare_latency", "one string as the sentences",
             lambda: compression.compare_latency({"a": lambda t: None}, "a film"), TypeError, "texts"),
    BadInput("utils.compression.compare_latency", "a predictor that is not a function",
             lambda: compression.compare_latency({"a": 3}, ["x"]), TypeError, "predictors['a']"),
    BadInput("utils.compression.speedup", "a name that was not timed",
             lambda: compression.speedup(_reports(), "b", "a"), KeyError, "name"),
    BadInput("utils.compression.speedup", "an unknown kind",
             lambda: compression.speedup(_reports(), "a", "a", kind="p95"), ValueError, "kind"),
    BadInput("utils.compression.speedup", "a list of reports", lambda: compression.speedup([1], "a", "a"), TypeError,
             "reports"),
    BadInput("utils.compression.predict_in_batches", "one string as the sentences",
             lambda: compression.predict_in_batches(lambda t: t, "a film"), TypeError, "texts"),
    BadInput("utils.compression.predict_in_batches", "a batch of 0",
             lambda: compression.predict_in_batches(lambda t: t, ["a"], batch_size=0), ValueError, "batch_size"),
    BadInput("utils.compression.serialized_bytes", "a path that does not exist",
             lambda: compression.serialized_bytes("no-such-file.bin"), FileNotFoundError, "obj"),
    BadInput("utils.compression.serialized_bytes", "None", lambda: compression.serialized_bytes(None), TypeError,
             "obj"),
    BadInput("utils.compression.peak_rss_bytes", "a result instead of a function",
             lambda: compression.peak_rss_bytes(3), TypeError, "fn"),
    BadInput("utils.compression.prune_magnitude", "a percentage instead of a fraction",
             lambda: compression.prune_magnitude(_classifier(), 50), ValueError, "amount"),
    BadInput("utils.compression.prune_magnitude", "a bare linear layer",
             lambda: compression.prune_magnitude(torch.nn.Linear(2, 2), 0.5), TypeError, "SequenceClassifier"),
    BadInput("utils.compression.prune_ffn_neurons", "every neuron removed",
             lambda: compression.prune_ffn_neurons(_classifier(), 1.0), ValueError, "fraction"),
    BadInput("utils.compression.prune_ffn_neurons", "a SwiGLU model",
             lambda: compression.prune_ffn_neurons(SequenceClassifier(Transformer(preset("tiny-llama")), 2), 0.5),
             ValueError, "GELU"),
    BadInput("utils.compression.linear_sparsity", "a tensor", lambda: compression.linear_sparsity(torch.zeros(3)),
             TypeError, "model"),
    BadInput("utils.compression.student_from_teacher", "a block that does not exist",
             lambda: compression.student_from_teacher(_classifier(), [0, 5]), ValueError, "keep_layers"),
    BadInput("utils.compression.student_from_teacher", "a block twice",
             lambda: compression.student_from_teacher(_classifier(), [1, 1]), ValueError, "repeat"),
    BadInput("utils.compression.student_from_teacher", "a number of layers instead of their indices",
             lambda: compression.student_from_teacher(_classifier(), 2), TypeError, "keep_layers"),
    BadInput("utils.compression.distillation_loss", "probabilities as labels",
             lambda: compression.distillation_loss(_LOGITS, _LOGITS, torch.rand(4)), TypeError, "labels"),
    BadInput("utils.compression.distillation_loss", "teacher logits of another shape",
             lambda: compression.distillation_loss(_LOGITS, torch.randn(4, 3), torch.zeros(4).long()), ValueError,
             "teacher_logits"),
    BadInput("utils.compression.distillation_loss", "a temperature of 0",
             lambda: compression.distillation_loss(_LOGITS, _LOGITS, torch.zeros(4).long(), 0.0), ValueError,
             "temperature"),
    BadInput("utils.compression.distillation_loss", "alpha above 1",
             lambda: compression.distillation_loss(_LOGITS, _LOGITS, torch.zeros(4).long(), 2.0, 1.5), ValueError,
             "alpha"),
    BadInput("utils.compression.train_student", "token ids instead of EncodedTexts",
             lambda: compression.train_student(_classifier(), torch.ones(4, 5).long(), [0] * 4, _LOGITS, steps=2),
             TypeError, "encoded"),
    BadInput("utils.compression.train_student", "teacher logits for other sentences",
             lambda: compression.train_student(_classifier(), _encoded(), [0] * 4, torch.randn(3, 2), steps=2),
             ValueError, "teacher_logits"),
    BadInput("utils.compression.train_student", "no labels with a hard-label term",
             lambda: compression.train_student(_classifier(), _encoded(), None, _LOGITS, steps=2, alpha=0.5),
             ValueError, "alpha=1"),
    BadInput("utils.compression.train_student", "one step",
             lambda: compression.train_student(_classifier(), _encoded(), [0] * 4, _LOGITS, steps=1), ValueError,
             "steps"),
    # serving
    BadInput("utils.serving.make_app", "a model that is not a function",
             lambda: serving.make_app(3, ["a", "b"]), TypeError, "predict"),
    BadInput("utils.serving.make_app", "one label name", lambda: serving.make_app(lambda t: t, "positive"), TypeError,
             "label_names"),
    BadInput("utils.serving.make_app", "a batch of 0", lambda: serving.make_app(lambda t: t, ["a", "b"], max_batch=0),
             ValueError, "max_batch"),
    BadInput("utils.serving.BackgroundServer", "a path instead of an app",
             lambda: serving.BackgroundServer("app.py"), TypeError, "app"),
    BadInput("utils.serving.BackgroundServer", "a lifetime of 0",
             lambda: serving.BackgroundServer(serving.make_app(lambda t: t, ["a", "b"]), max_seconds=0), ValueError,
             "max_seconds"),
    BadInput("utils.serving.load_test", "a port instead of the address",
             lambda: serving.load_test(8000, ["a"], 1, 1), ValueError, "url"),
    BadInput("utils.serving.load_test", "unbounded concurrency",
             lambda: serving.load_test("http://127.0.0.1:1", ["a"], 10_000, 1), ValueError, "concurrency"),
    BadInput("utils.serving.load_test", "no requests", lambda: serving.load_test("http://127.0.0.1:1", ["a"], 1, 0),
             ValueError, "n_requests"),
    BadInput("utils.serving.cost_per_million", "a throughput of 0", lambda: serving.cost_per_million(0.0, 1.0),
             ValueError, "throughput_per_s"),
    BadInput("utils.serving.cost_per_million", "a negative price", lambda: serving.cost_per_million(10.0, -1.0),
             ValueError, "price_per_hour"),
    # privacy
    BadInput("utils.privacy.cross_entropy_loss", "a batch without labels",
             lambda: privacy.cross_entropy_loss(torch.nn.Linear(3, 2), _X), TypeError, "batch"),
    BadInput("utils.privacy.cross_entropy_loss", "float labels",
             lambda: privacy.cross_entropy_loss(torch.nn.Linear(3, 2), (_X, _Y.float())), TypeError, "labels"),
    BadInput("utils.privacy.local_train", "inputs and targets of different lengths",
             lambda: privacy.local_train(torch.nn.Linear(3, 2), (_X, _Y[:5]), privacy.cross_entropy_loss, 1, 0.1),
             ValueError, "same non-zero number"),
    BadInput("utils.privacy.local_train", "an unknown optimizer",
             lambda: privacy.local_train(torch.nn.Linear(3, 2), (_X, _Y), privacy.cross_entropy_loss, 1, 0.1,
                                         optimizer="adam"), ValueError, "optimizer"),
    BadInput("utils.privacy.average_states", "weights for another number of clients",
             lambda: privacy.average_states([{"w": torch.ones(2)}] * 2, [1.0]), ValueError, "weights"),
    BadInput("utils.privacy.average_states", "states of different models",
             lambda: privacy.average_states([{"w": torch.ones(2)}, {"v": torch.ones(2)}], [1, 1]), ValueError,
             "same keys"),
    BadInput("utils.privacy.average_states", "one state dict instead of a list",
             lambda: privacy.average_states({"w": torch.ones(2)}, [1]), TypeError, "states"),
    BadInput("utils.privacy.fedavg", "one client's data instead of a list of clients",
             lambda: privacy.fedavg(torch.nn.Linear(3, 2), (_X, _Y), privacy.cross_entropy_loss, 1, 1, 0.1),
             TypeError, "clients"),
    BadInput("utils.privacy.fedavg", "no clients",
             lambda: privacy.fedavg(torch.nn.Linear(3, 2), [], privacy.cross_entropy_loss, 1, 1, 0.1), ValueError,
             "clients"),
    BadInput("utils.privacy.fedavg", "zero rounds",
             lambda: privacy.fedavg(torch.nn.Linear(3, 2), [(_X, _Y)], privacy.cross_entropy_loss, 0, 1, 0.1),
             ValueError, "rounds"),
    BadInput("utils.privacy.per_example_losses", "labels outside the classes",
             lambda: privacy.per_example_losses(np.full((2, 2), 0.5), np.array([0, 2])), ValueError, "labels"),
    BadInput("utils.privacy.per_example_losses", "one row of probabilities",
             lambda: privacy.per_example_losses(np.array([0.5, 0.5]), np.array([0])), ValueError, "probs"),
    BadInput("utils.privacy.membership_auc", "no non-members",
             lambda: privacy.membership_auc([0.1, 0.2], []), ValueError, "nonmember_losses"),
    BadInput("utils.privacy.membership_auc", "an infinite loss",
             lambda: privacy.membership_auc([np.inf], [0.2]), ValueError, "member_losses"),
    BadInput("utils.privacy.dp_train", "a negative noise multiplier",
             lambda: privacy.dp_train(torch.nn.Linear(3, 2), (_X, _Y), -1.0), ValueError, "noise_multiplier"),
    BadInput("utils.privacy.dp_train", "a batch larger than the data",
             lambda: privacy.dp_train(torch.nn.Linear(3, 2), (_X, _Y), 1.0, batch_size=64), ValueError, "batch_size"),
    BadInput("utils.privacy.dp_train", "a delta of 1",
             lambda: privacy.dp_train(torch.nn.Linear(3, 2), (_X, _Y), 1.0, batch_size=4, delta=1.0), ValueError,
             "delta"),
]

NO_BAD_INPUT = {
    "utils.compression.LatencyReport": "a record compare_latency fills, never from reader input",
    "utils.serving.LoadReport": "a record load_test fills, never from reader input",
    "utils.privacy.FedAvgResult": "a record fedavg fills, never from reader input",
    "utils.privacy.DPResult": "a record dp_train fills, never from reader input",
    "utils.exercises.product.check_distillation_loss": "checks a learner's function; wrong answers are its subject "
                                                       "(tests/test_exercises_product.py)",
    "utils.exercises.product.check_int8_quantize": "checks a learner's function; wrong answers are its subject "
                                                   "(tests/test_exercises_product.py)",
    "utils.exercises.product.check_fedavg_average": "checks a learner's function; wrong answers are its subject "
                                                    "(tests/test_exercises_product.py)",
}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input_gets_a_clear_error(case):
    assert_clear_error(case)


def test_every_public_name_of_chapter_10_is_covered():
    import inspect

    import utils.exercises.product as product

    covered = {c.target for c in CASES} | set(NO_BAD_INPUT)
    public = {f"{m.__name__}.{n}" for m in (export, compression, serving, privacy, product) for n in m.__all__
              if inspect.isfunction(getattr(m, n)) or inspect.isclass(getattr(m, n))}
    assert public - covered == set()
