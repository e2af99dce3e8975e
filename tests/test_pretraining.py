"""Chapter 6's pieces: BERT masking statistics, the two LM losses, saved pretrained models, plots, the benchmark."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils.checkpoint import CheckpointError
from utils.pretrained import (
    ENCODER_SPECIAL_TOKENS,
    encoder_recipe,
    load_pretrained,
    load_pretrained_encoder,
    pretrain_encoder,
    pretrained_dir,
    save_pretrained,
    train_wikipedia_tokenizer,
    wikipedia_mlm_data,
)
from utils.tokenizer import Tokenizer, train_bpe
from utils.lm import causal_lm_loss, mask_tokens, masked_lm_loss
from utils.training import StepHistory
from utils.transformer import Transformer, TransformerLM, preset

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _synthetic_rows(n=400, T=128, vocab=90, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (n, T), generator=g)
    lengths = torch.randint(T // 4, T, (n,), generator=g)
    special = torch.arange(T)[None, :] >= lengths[:, None]  # padding
    special[:, 0] = True  # [CLS]
    ids[special] = vocab  # one special id
    return ids, special


def test_mask_tokens_follows_the_80_10_10_rule():
    vocab = 90
    ids, special = _synthetic_rows(vocab=vocab)
    mask_id = vocab + 1
    inputs, labels = mask_tokens(ids, special, mask_id, vocab, generator=torch.Generator().manual_seed(1))
    chosen = labels != -100
    n_maskable, n_chosen = int((~special).sum()), int(chosen.sum())

    def within_4_sigma(count, total, p):  # four binomial standard errors: a correct rule fails 1 time in 16,000
        return abs(count / total - p) <= 4 * math.sqrt(p * (1 - p) / total)

    assert within_4_sigma(n_chosen, n_maskable, 0.15)
    assert within_4_sigma(int((inputs[chosen] == mask_id).sum()), n_chosen, 0.8)
    unchanged = int((inputs[chosen] == ids[chosen]).sum())  # the 10% kept, plus random draws of the same id (1/V)
    assert within_4_sigma(unchanged, n_chosen, 0.1 + 0.1 / vocab)
    assert not (chosen & special).any() and torch.equal(inputs[special], ids[special])
    assert torch.equal(labels[chosen], ids[chosen]) and torch.equal(inputs[~chosen], ids[~chosen])
    assert int(inputs[chosen & (inputs != mask_id)].max()) < vocab
    again = mask_tokens(ids, special, mask_id, vocab, generator=torch.Generator().manual_seed(1))
    assert torch.equal(again[0], inputs) and torch.equal(again[1], labels)


def test_mask_tokens_rejects_bad_input():
    ids, special = _synthetic_rows(n=2, T=8)
    with pytest.raises(ValueError, match="special_mask must be a bool tensor shaped like input_ids"):
        mask_tokens(ids, special.long(), 0, 10)
    with pytest.raises(ValueError, match=r"mask_prob must be in \(0, 1\), got 1.5"):
        mask_tokens(ids, special, 0, 10, mask_prob=1.5)


def test_masked_lm_loss_scores_the_masked_positions_against_the_embeddings():
    torch.manual_seed(0)
    encoder = Transformer(preset("tiny-bert")).eval()
    ids, special = _synthetic_rows(n=4, T=16, vocab=90)
    attention_mask = (~special).long()
    attention_mask[:, 0] = 1
    inputs, labels = mask_tokens(ids, special, 97, 90, mask_prob=0.3, generator=torch.Generator().manual_seed(0))
    loss, n = masked_lm_loss(encoder, (inputs, attention_mask, labels))
    with torch.no_grad():
        full_logits = encoder(inputs, attention_mask=attention_mask) @ encoder.token_emb.weight.t()  # (B, T, V)
    expected = F.cross_entropy(full_logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
    assert n == int((labels != -100).sum())
    # the same float32 products in the same order on the selected rows: equal to a few float32 ulps of the loss
    assert abs(loss.item() - expected.item()) <= 1e-6 * expected.item()
    with pytest.raises(ValueError, match="no token of the batch is masked"):
        masked_lm_loss(encoder, (inputs, attention_mask, torch.full_like(labels, -100)))


def test_causal_lm_loss_counts_tokens_and_ignores_minus_100():
    torch.manual_seed(0)
    model = TransformerLM(preset("tiny-gpt2")).eval()
    inputs = torch.randint(0, 99, (2, 10))
    targets = torch.randint(0, 99, (2, 10))
    targets[1, 5:] = -100
    loss, n = causal_lm_loss(model, (inputs, targets))
    logits = model(inputs)
    keep = targets != -100
    manual = -torch.log_softmax(logits[keep].double(), -1).gather(1, targets[keep][:, None]).mean()
    assert n == 15
    assert abs(loss.item() - manual.item()) <= 1e-5  # float32 log-softmax over 99 logits vs float64: ~1e-7


def _tiny_tokenizer(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("the cat sat on the mat. the dog sat on the log. " * 20, encoding="utf-8")
    vocab, merges = train_bpe(path, 280, list(ENCODER_SPECIAL_TOKENS))
    return Tokenizer(vocab, merges, list(ENCODER_SPECIAL_TOKENS))


def test_save_and_load_pretrained_round_trip(tmp_path):
    tokenizer = _tiny_tokenizer(tmp_path)
    torch.manual_seed(0)
    lm = TransformerLM(preset("tiny-gpt2", vocab_size=tokenizer.vocab_size)).eval()
    folder = save_pretrained(tmp_path / "lm", lm, tokenizer, "causal_lm", {"val_loss": 1.5})
    loaded, loaded_tokenizer, info = load_pretrained(folder)
    ids = torch.tensor([tokenizer.encode("the cat sat")])
    assert isinstance(loaded, TransformerLM) and info == {"kind": "causal_lm", "val_loss": 1.5}
    assert torch.equal(loaded(ids), lm(ids))
    assert loaded_tokenizer.encode("the dog[MASK]") == tokenizer.encode("the dog[MASK]")
    with pytest.raises(ValueError, match="kind must be one of"):
        save_pretrained(tmp_path / "x", lm, tokenizer, "decoder")
    with pytest.raises(CheckpointError, match="not a pretrained model of the course"):
        load_pretrained(tmp_path / "nothing")


def test_pretrained_dir_and_recipes(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    assert pretrained_dir("wikipedia-encoder") == tmp_path / "pretrained" / "wikipedia-encoder"
    with pytest.raises(ValueError, match="name must be letters"):
        pretrained_dir("../elsewhere")
    quick, cpu, gpu = encoder_recipe(True), encoder_recipe(False), encoder_recipe(False, "cuda")
    assert quick.keys() == cpu.keys() == gpu.keys()
    assert quick["max_steps"] < cpu["max_steps"] < gpu["max_steps"] and gpu["precision"] == "bf16"


def test_wikipedia_rows_start_with_cls_end_with_sep_and_pad():
    tokenizer = train_wikipedia_tokenizer(300, n_texts=50)
    rows = wikipedia_mlm_data(tokenizer, 32, "val", n_texts=20)
    pad, cls, sep = (tokenizer.encode(t)[0] for t in ENCODER_SPECIAL_TOKENS[:3])
    ids, mask, special = rows["input_ids"], rows["attention_mask"], rows["special_mask"]
    assert ids.shape == (20, 32) and torch.all(ids[:, 0] == cls)
    lengths = mask.sum(1)
    assert all(ids[i, lengths[i] - 1] == sep and torch.all(ids[i, lengths[i]:] == pad) for i in range(20))
    assert torch.equal(special, (ids == pad) | (ids == cls) | (ids == sep))


def test_load_pretrained_encoder_trains_when_missing_and_loads_when_present(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    monkeypatch.setenv("COURSE_QUICK", "1")
    trained, tokenizer, info = load_pretrained_encoder(device="cpu")
    assert (tmp_path / "pretrained" / "wikipedia-encoder-quick" / "model.safetensors").is_file()
    loaded, loaded_tokenizer, loaded_info = load_pretrained_encoder(device="cpu")
    assert info["mode"] == "quick" and loaded_info == {"kind": "encoder", **info}
    assert all(torch.equal(a, b) for a, b in zip(trained.state_dict().values(), loaded.state_dict().values()))
    assert loaded_tokenizer.merges == tokenizer.merges and not loaded.training
    assert math.isfinite(info["val_loss"]) and info["val_loss"] < math.log(tokenizer.vocab_size)  # it learned


def test_chapter6_plot_helpers():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from utils.plotting import plot_next_token_distribution, plot_scaling_fit, plot_step_history

    history = StepHistory(step=[1, 2, 3, 4], train_loss=[4.0, 3.0, 2.5, 2.0], eval_step=[2, 4], val_loss=[3.2, 2.4])
    fig, ax = plt.subplots()
    line = plot_step_history(ax, history, label="gpt", smooth=2)
    assert list(line.get_ydata()) == [3.2, 2.4] and list(ax.lines[0].get_ydata()) == [3.5, 2.75, 2.25]
    with pytest.raises(ValueError, match="no steps"):
        plot_step_history(ax, StepHistory())
    fit_line = plot_scaling_fit(ax, [1e3, 1e4], [4.0, 3.0], 8.0, 0.1)
    assert np.allclose(fit_line.get_ydata(), 8.0 * fit_line.get_xdata() ** -0.1) and ax.get_xscale() == "log"
    kept = plot_next_token_distribution(ax, [0.5, 0.3, 0.15, 0.05], top_k=2, top_p=0.9)
    assert kept == {"top_k": 2, "top_p": 3}  # 0.5 + 0.3 < 0.9 <= 0.5 + 0.3 + 0.15
    with pytest.raises(ValueError, match="sum to 1"):
        plot_next_token_distribution(ax, [0.5, 0.2])
    plt.close(fig)


def test_benchmark_training_script_runs_and_both_models_agree(capsys):
    spec = importlib.util.spec_from_file_location("benchmark_training", ROOT / "scripts" / "benchmark_training.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.main(["--tiny", "--repeats", "2", "--warmup", "0", "--threads", "1"])
    # Same weights, same batch: the first losses agree to float32 rounding of a 99-way log-softmax (~1e-6).
    assert abs(result["first_loss"]["ours"] - result["first_loss"]["transformers"]) < 1e-5
    assert len(result["tokens_per_s"]["ours"]) == 2 and result["ratio_of_medians"] > 0
    assert "training throughput ratio ours/transformers" in capsys.readouterr().out


def test_pretrain_encoder_without_saving_writes_no_model(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    encoder, tokenizer, history, info = pretrain_encoder(True, "cpu", progress=False, save=False)
    assert isinstance(encoder, Transformer) and history.steps == encoder_recipe(True)["max_steps"]
    assert history.val_loss[-1] < history.val_loss[0] and info["mode"] == "quick"
    assert encoder.config.vocab_size == tokenizer.vocab_size and not (tmp_path / "pretrained").exists()
