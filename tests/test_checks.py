"""The shared entry-point checks: the error type, and a message that names the argument, the expectation and what
was given."""

import numpy as np
import pytest
import torch

from utils import checks


def test_describe_is_short_and_says_shape_dtype_and_device():
    assert checks.describe(torch.zeros(2, 5)) == "tensor (2, 5) float32 on cpu"
    assert checks.describe(np.zeros((3,), dtype=np.int64)) == "ndarray (3,) int64"
    assert checks.describe("abc") == "'abc' (str)"
    assert len(checks.describe("x" * 500)) < 80


@pytest.mark.parametrize("value, error, words", [
    (True, TypeError, "n must be an int, got True (bool)"),
    (2.0, TypeError, "round it first"),
    ("3", TypeError, "got '3' (str)"),
    (0, ValueError, "n must be >= 1, got 0"),
    (11, ValueError, "n must be <= 10, got 11"),
])
def test_check_int_refuses_bools_floats_and_out_of_range(value, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        checks.check_int("n", value, minimum=1, maximum=10)


def test_check_int_and_number_accept_numpy_scalars_and_return_python_numbers():
    assert checks.check_int("n", np.int64(3)) == 3 and type(checks.check_int("n", np.int64(3))) is int
    assert checks.check_number("lr", np.float32(0.5), above=0) == 0.5


@pytest.mark.parametrize("value, error, words", [
    (float("nan"), ValueError, "lr must be finite"),
    (0.0, ValueError, "lr must be > 0"),
    (False, TypeError, "lr must be a number"),
    (None, TypeError, "lr must be a number, got None"),
])
def test_check_number(value, error, words):
    with pytest.raises(error, match=words):
        checks.check_number("lr", value, above=0)


def test_choice_bool_and_callable():
    assert checks.check_choice("norm", "pre", ("pre", "post")) == "pre"
    with pytest.raises(ValueError, match="norm must be one of 'pre', 'post', got 'mid'"):
        checks.check_choice("norm", "mid", ("pre", "post"))
    with pytest.raises(TypeError, match="causal must be True or False, got 1"):
        checks.check_bool("causal", 1)
    with pytest.raises(TypeError, match="solution must be a function, got None.*did the cell that defines it run"):
        checks.check_callable("solution", None)


def test_check_tensor_type_dims_dtype_and_trailing_shape():
    x = torch.zeros(2, 3, 4)
    assert checks.check_tensor("x", x, ndim=3, dtype="float", shape=(None, 4)) is x
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor, got \[1, 2\] \(list\) \(convert it"):
        checks.check_tensor("x", [1, 2])
    with pytest.raises(ValueError, match=r"x must have 2 dims, got tensor \(2, 3, 4\)"):
        checks.check_tensor("x", x, ndim=2)
    with pytest.raises(ValueError, match=r"x must have at least 4 dims"):
        checks.check_tensor("x", x, min_ndim=4)
    with pytest.raises(TypeError, match=r"x must be an int tensor.*\.long\(\)"):
        checks.check_tensor("x", x, dtype="int")
    with pytest.raises(TypeError, match=r"ids must be a float tensor.*\.float\(\)"):
        checks.check_tensor("ids", torch.zeros(3, dtype=torch.long), dtype="float")
    with pytest.raises(ValueError, match=r"x must end in shape \(\*, 5\), got tensor \(2, 3, 4\)"):
        checks.check_tensor("x", x, shape=(None, 5))
    with pytest.raises(ValueError, match=r"must end in shape \(\*, \*, \*, 4\)"):
        checks.check_tensor("x", x, shape=(None, None, None, 4))
    assert checks.check_tensor("m", torch.ones(2, dtype=torch.bool), dtype="bool") is not None


def test_same_shape_and_index_range():
    checks.check_same_shape("a", torch.zeros(2, 3), "b", torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"a and b must have the same shape, got \(2, 3\) and \(3, 2\)"):
        checks.check_same_shape("a", torch.zeros(2, 3), "b", torch.zeros(3, 2))
    checks.check_index_range("input_ids", torch.tensor([0, 9]), 10, "vocab_size")
    checks.check_index_range("input_ids", torch.tensor([], dtype=torch.long), 10, "vocab_size")
    with pytest.raises(ValueError, match=r"input_ids must be in \[0, 10\) \(vocab_size=10\), got 10"):
        checks.check_index_range("input_ids", torch.tensor([3, 10]), 10, "vocab_size")
    with pytest.raises(ValueError, match="got -1"):
        checks.check_index_range("labels", torch.tensor([-1, 2]), 3, "n_classes")


def test_fail_adds_the_hint():
    with pytest.raises(KeyError, match="no split 'dev' .use train, val or test."):
        checks.fail("no split 'dev'", KeyError, "use train, val or test")


def test_check_same_dtype_and_device_names_both_tensors():
    checks.check_same_dtype_and_device(("q", "k"), (torch.zeros(1), torch.ones(2)))
    with pytest.raises(TypeError, match=r"q and v must have the same dtype and device, got tensor \(1,\) float32 "
                                        r"on cpu and tensor \(1,\) float64 on cpu .convert one of them with \.to\(q\)"):
        checks.check_same_dtype_and_device(("q", "k", "v"), (torch.zeros(1), torch.zeros(1), torch.zeros(1).double()))
