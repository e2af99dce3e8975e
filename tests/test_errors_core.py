"""Bad input to the course's plumbing (env, registry, data, notebook, checks): a clear error, raised in utils."""

import numpy as np
import pytest
import torch
from nbformat.v4 import new_notebook

import utils.checks as checks
import utils.data as data
import utils.env as env
import utils.notebook as notebook
import utils.registry as registry
from bad_inputs import BadInput, assert_clear_error, case_id

SMS = registry.REGISTRY["sms"]
GOOD_SHA = SMS.sha256
TRAIN_VAL_TEST = {"train": np.arange(0), "val": np.arange(0), "test": np.arange(0)}


def _cache_is_a_file(tmp_file):
    import os

    os.environ["COURSE_CACHE"] = str(tmp_file)
    try:
        env.cache_dir()
    finally:
        del os.environ["COURSE_CACHE"]


CASES = [
    BadInput("utils.env.get_device", "a device kind torch does not have", lambda: env.get_device("tpu"),
             ValueError, "tpu"),
    BadInput("utils.env.get_device", "a device index that is not a number", lambda: env.get_device("cuda:x"),
             ValueError, "cuda:x"),
    BadInput("utils.env.get_device", "a number instead of a name", lambda: env.get_device(0), TypeError, "preferred"),
    BadInput("utils.env.get_device", "a GPU on a machine without one", lambda: env.get_device("cuda"),
             RuntimeError, "available"),
    BadInput("utils.env.seed_everything", "a negative seed", lambda: env.seed_everything(-1), ValueError, "seed"),
    BadInput("utils.env.seed_everything", "a seed given as text", lambda: env.seed_everything("0"), TypeError, "seed"),
    BadInput("utils.env.seed_everything", "a float seed", lambda: env.seed_everything(1.5), TypeError, "seed"),
    BadInput("utils.env.package_file", "a file the package lacks", lambda: env.package_file("nope.csv"),
             FileNotFoundError, "nope.csv"),
    BadInput("utils.env.package_file", "no parts", lambda: env.package_file(), TypeError, "parts"),
    BadInput("utils.env.device_description", "an unknown device", lambda: env.device_description("tpu"),
             ValueError, "tpu"),
    BadInput("utils.env.device_description", "a number", lambda: env.device_description(3), TypeError, "device"),
    BadInput("utils.env.environment_report", "a start time given as text",
             lambda: env.environment_report("12:00"), TypeError, "started_at"),
    BadInput("utils.env.require_memory", "a negative size", lambda: env.require_memory(-1), ValueError, "n_bytes"),
    BadInput("utils.env.require_memory", "a size in GiB as a float", lambda: env.require_memory(1.5),
             TypeError, "n_bytes"),
    BadInput("utils.env.require_memory", "more memory than the machine has",
             lambda: env.require_memory(2**60, "cpu"), MemoryError, "quick mode"),
    BadInput("utils.registry.fetch", "an artifact the registry lacks", lambda: registry.fetch("imagenet"),
             KeyError, "imagenet"),
    BadInput("utils.registry.fetch", "a list of names", lambda: registry.fetch(["sms"]), TypeError, "name"),
    BadInput("utils.registry.is_cached", "an unknown artifact", lambda: registry.is_cached("imdb"), KeyError, "imdb"),
    BadInput("utils.registry.artifact_path", "a number", lambda: registry.artifact_path(3), TypeError, "name"),
    BadInput("utils.registry.sha256_of", "a missing file", lambda: registry.sha256_of("/no/such/file"),
             FileNotFoundError, "/no/such/file"),
    BadInput("utils.registry.write_manifest", "a folder that does not exist",
             lambda: registry.write_manifest("/no/such/folder", GOOD_SHA), NotADirectoryError, "folder"),
    BadInput("utils.registry.write_manifest", "a hash that is not sha256",
             lambda: registry.write_manifest("/tmp", "abc"), ValueError, "source_sha256"),
    BadInput("utils.registry.manifest_problems", "a hash in upper case",
             lambda: registry.manifest_problems("/tmp", GOOD_SHA.upper()), ValueError, "source_sha256"),
    BadInput("utils.registry.manifest_problems", "a folder given as a number",
             lambda: registry.manifest_problems(3, GOOD_SHA), TypeError, "folder"),
    BadInput("utils.registry.Artifact", "a hash cut short",
             lambda: registry.Artifact(**{**vars(SMS), "sha256": GOOD_SHA[:10]}), ValueError, "sha256"),
    BadInput("utils.registry.Artifact", "a file that is neither wheel nor sdist",
             lambda: registry.Artifact(**{**vars(SMS), "filename": "x.zip"}), ValueError, "filename"),
    BadInput("utils.registry.Artifact", "no members",
             lambda: registry.Artifact(**{**vars(SMS), "members": ()}), ValueError, "members"),
    BadInput("utils.data.make_split", "float labels", lambda: data.make_split(np.array([0.0, 1.0] * 20)),
             TypeError, "labels"),
    BadInput("utils.data.make_split", "a class too rare to stratify",
             lambda: data.make_split(np.array([0] * 50 + [1] * 3)), ValueError, "class 1 has 3"),
    BadInput("utils.data.make_split", "negative labels", lambda: data.make_split(np.array([-1, 0] * 20)),
             ValueError, "labels"),
    BadInput("utils.data.make_split", "a negative seed", lambda: data.make_split(np.array([0, 1] * 20), seed=-1),
             ValueError, "seed"),
    BadInput("utils.data.stored_split", "items and labels of different lengths",
             lambda: data.stored_split("sms", ["a", "b"], np.array([0])), ValueError, "items and labels"),
    BadInput("utils.data.stored_split", "a key that is not a name",
             lambda: data.stored_split(None, [], np.array([])), TypeError, "key"),
    BadInput("utils.data.write_split", "a folder that does not exist",
             lambda: data.write_split("x", ["a"] * 40, np.array([0, 1] * 20), "/no/such"), NotADirectoryError,
             "folder"),
    BadInput("utils.data.load_reviews", "a domain the data lacks", lambda: data.load_reviews("imdb"),
             ValueError, "domain"),
    BadInput("utils.data.load_reviews", "five classes", lambda: data.load_reviews("movie", n_classes=5),
             ValueError, "n_classes"),
    BadInput("utils.data.TextClassificationData", "more labels than texts",
             lambda: data.TextClassificationData("x", ["a"], np.array([0, 1]), ["n", "p"], TRAIN_VAL_TEST),
             ValueError, "items and labels"),
    BadInput("utils.data.TextClassificationData", "a label with no name",
             lambda: data.TextClassificationData("x", ["a", "b"], np.array([0, 2]), ["n", "p"], TRAIN_VAL_TEST),
             ValueError, "label_names"),
    BadInput("utils.data.TextClassificationData", "a split called dev",
             lambda: data.TextClassificationData("x", ["a"], np.array([0]), ["n"], {"train": 0, "dev": 0}),
             ValueError, "split_ids"),
    BadInput("utils.data.ImageClassificationData", "flattened images",
             lambda: data.ImageClassificationData("x", np.zeros((2, 784)), np.array([0, 1]), ["0", "1"],
                                                  TRAIN_VAL_TEST), ValueError, "images"),
    BadInput("utils.data.strip_gutenberg", "a path instead of the text",
             lambda: data.strip_gutenberg(env.package_file("milestones.csv")), TypeError, "text"),
    BadInput("utils.data.count_safetensors_parameters", "a missing file",
             lambda: data.count_safetensors_parameters("/no/model.safetensors"), FileNotFoundError, "path"),
    BadInput("utils.data.count_safetensors_parameters", "a file that is not safetensors",
             lambda: data.count_safetensors_parameters(env.package_file("milestones.csv")), ValueError, "path"),
    BadInput("utils.data.count_gguf_parameters", "a folder instead of the file",
             lambda: data.count_gguf_parameters("/tmp"), FileNotFoundError, "path"),
    BadInput("utils.notebook.code_hash", "a path instead of the notebook",
             lambda: notebook.code_hash("notebooks/00_setup.ipynb"), TypeError, "nb"),
    BadInput("utils.notebook.outputs_hash", "a dict that is not a notebook", lambda: notebook.outputs_hash({}),
             TypeError, "nb"),
    BadInput("utils.notebook.error_outputs", "a list of cells", lambda: notebook.error_outputs([]), TypeError, "nb"),
    BadInput("utils.notebook.problems", "a notebook that does not exist",
             lambda: notebook.problems("notebooks/99_none.ipynb"), FileNotFoundError, "path"),
    BadInput("utils.notebook.problems", "a Python file", lambda: notebook.problems(__file__), FileNotFoundError,
             "path"),
    BadInput("utils.notebook.make_stamp", "a negative wall time",
             lambda: notebook.make_stamp(new_notebook(), -1.0, None), ValueError, "wall_time_s"),
    BadInput("utils.notebook.execute_and_stamp", "a notebook that does not exist",
             lambda: notebook.execute_and_stamp("nope.ipynb"), FileNotFoundError, "path"),
    BadInput("utils.checks.check_int", "the checker's own bool rule", lambda: checks.check_int("n", True),
             TypeError, "n"),
    BadInput("utils.checks.check_number", "infinity", lambda: checks.check_number("lr", float("inf")),
             ValueError, "lr"),
    BadInput("utils.checks.check_bool", "a string", lambda: checks.check_bool("causal", "yes"), TypeError, "causal"),
    BadInput("utils.checks.check_choice", "a value outside the choices",
             lambda: checks.check_choice("mode", "fast", ("quick", "full")), ValueError, "mode"),
    BadInput("utils.checks.check_callable", "None", lambda: checks.check_callable("fn", None), TypeError, "fn"),
    BadInput("utils.checks.check_tensor", "a dtype kind that does not exist",
             lambda: checks.check_tensor("x", torch.zeros(1), dtype="double"), ValueError, "dtype"),
    BadInput("utils.checks.check_same_shape", "two shapes", lambda: checks.check_same_shape(
        "a", torch.zeros(1), "b", torch.zeros(2)), ValueError, "a and b"),
    BadInput("utils.checks.check_same_dtype_and_device", "float32 and float64",
             lambda: checks.check_same_dtype_and_device(("q", "k"), (torch.zeros(1), torch.zeros(1).double())),
             TypeError, "q and k"),
    BadInput("utils.checks.check_index_range", "an id past the end",
             lambda: checks.check_index_range("ids", torch.tensor([5]), 5, "vocab_size"), ValueError, "vocab_size"),
    BadInput("utils.checks.fail", "an error that is not an exception class",
             lambda: checks.fail("x", error="ValueError"), TypeError, "error"),
]

NO_BAD_INPUT = {
    "utils.env.quick_mode": "no arguments (reads COURSE_QUICK; any other value means full mode, as documented)",
    "utils.env.cache_dir": "no arguments; a COURSE_CACHE that is a file is tested below",
    "utils.env.start_timer": "no arguments",
    "utils.env.cpu_model": "no arguments",
    "utils.env.package_versions": "no arguments",
    "utils.registry.DataFetchError": "an exception type",
    "utils.registry.HashMismatchError": "an exception type",
    "utils.registry.RegistryUnreachableError": "an exception type",
    "utils.data.load_bbc": "no arguments; a damaged cache is repaired by fetch (test_registry.py)",
    "utils.data.load_sms": "no arguments; as load_bbc",
    "utils.data.load_wikipedia": "no arguments; as load_bbc",
    "utils.data.load_mnist": "no arguments; as load_bbc",
    "utils.data.load_shakespeare": "no arguments; as load_bbc",
    "utils.data.shakespeare_path": "no arguments; as load_bbc",
    "utils.data.minilm_dir": "no arguments; as load_bbc",
    "utils.data.smollm2_gguf": "no arguments; as load_bbc",
    "utils.data.smollm2_float32_dir": "no arguments",
    "utils.data.load_minilm": "no arguments; as load_bbc",
    "utils.data.load_smollm2": "no arguments; a damaged float32 copy is made again (manifest)",
    "utils.data.dataset_cards": "no arguments",
    "utils.data.DatasetCard": "a record the course fills from the registry, never from reader input",
    "utils.data.main": "no arguments (the command line python -m utils.data)",
    "utils.notebook.main": "argparse reports a wrong command line with its usage",
    "utils.checks.describe": "describes any value",
}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input_gets_a_clear_error_from_utils(case):
    assert_clear_error(case)


def test_a_cache_folder_that_is_a_file_gets_a_clear_error(tmp_path):
    path = tmp_path / "cache"
    path.write_text("")
    assert_clear_error(BadInput("utils.env.cache_dir", "a file", lambda: _cache_is_a_file(path),
                                NotADirectoryError, "COURSE_CACHE"))
