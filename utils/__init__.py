"""Shared code for the course *From Attention to Product*.

Each module holds one topic and is built inline in a chapter first; later chapters import it from here.

Where code is (by chapter):

- ``env``: quick mode, device, seeds, cache folder, package data, the closing report (every chapter);
  ``notebook``: execute a chapter in full mode and stamp it; ``checks``: the argument checks every public entry
  point uses, so a mistake gets a message that says what to do
- ``registry``: the offline data registry, fetching and checking the cache; ``data``: one loader per dataset or
  model (tokenizers included), with the fixed splits (chapter 0)
- ``cited``: figures cited from papers, each with its source; ``history``: doubling-time fits (chapter 1)
- ``losses``, ``optim``: stable losses, optimizers and schedules (chapter 2)
- ``attention``: scaled dot-product, blockwise, multi-head self- and cross-attention, masks, KV cache; ``positions``:
  sinusoidal and rotary positions (chapter 3)
- ``tokenizer`` gathers ``tokenizer_common`` (patterns, special tokens, the merge routine), ``bpe_training``,
  ``bpe`` (the byte-level BPE tokenizer) and ``wordpiece`` (chapter 4)
- ``transformer``: the model file, one configurable block that becomes GPT-2, BERT or Llama; ``generation``:
  sampling and the generation loop with its KV cache; ``encoder_decoder``: the original encoder-decoder (its
  cross-attention is in ``attention``); ``hf``: all interop with ``transformers``, driven by one table of model
  families (chapter 5)
- ``training``: the one training loop; ``checkpoint``: checkpoints that resume bitwise; ``lm``: language-model
  batches, masking and losses; ``pretrained``: pretrained models saved and loaded with their tokenizers (chapter 6)
- ``perf``: every timing in the book, FLOPs, MFU, the memory budget (chapter 7)
- ``classifiers``, ``lora``, ``predictions``: fine-tuning, adapters, the saved predictions and fine-tuned
  weights (chapter 8)
- ``metrics``: classification metrics, curves and intervals (chapters 8 and 9); ``calibration``: reliability,
  calibration error, temperature scaling; ``significance``: paired tests between two models;
  ``evaluation_plots``: the evaluation chapter's figures (chapter 9)
- ``compression``: latency, size and memory of a classifier, quantization, pruning, distillation; ``export``:
  ONNX and onnxruntime; ``serving``: the HTTP service and its load test; ``privacy``: federated averaging,
  membership inference, DP-SGD (chapter 10)
- ``exercises``: the checkers, one submodule per chapter; ``plotting``: the book's plotting style, one section
  per chapter

Where new code goes: into the module of its topic; a new topic gets a module named for what it holds (not
``ch10.py``). A module that passes about 600 lines splits by job (``tests/test_api.py`` enforces the size and
that every module declares its public names in ``__all__``). The only copies are a chapter's teaching copy and its twin here, pinned by a test.

Shared vocabulary for names: ``d_model``, ``n_heads``, ``d_head``, ``seq_len``, ``batch_size``,
``vocab_size``, ``logits``, ``probs``.
"""

__version__ = "0.1.0"
