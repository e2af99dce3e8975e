"""Shared code for the course *From Attention to Product*.

Each module holds one topic and is built inline in a chapter first:

- ``env``: quick mode, device, seed, cache folder, environment report (every chapter)
- ``registry``: the offline data registry, fetching and checking the cache; ``data``: one loader per dataset or
  model, with the fixed splits (chapter 0)
- ``notebook``: execute a chapter in full mode and stamp it
- ``cited``: figures cited from papers, each with its source; ``history``: doubling-time fits (chapter 1)
- ``losses``, ``optim``, ``training``: stable losses, optimizers and schedules, the one training loop (chapter 2)
- ``attention``: scaled dot-product and multi-head attention, masks, RoPE, KV cache (chapter 3)
- ``tokenizer``: byte-level BPE and WordPiece, equal to the real models' tokenizers (chapter 4)
- ``transformer``: one configurable block that becomes GPT-2, BERT or Llama, and weight converters (chapter 5)
- ``exercises``: checkers for the exercises; ``plotting``: the book's plotting style

Shared vocabulary for names: ``d_model``, ``n_heads``, ``d_head``, ``seq_len``, ``batch_size``,
``vocab_size``, ``logits``, ``probs``.
"""

__version__ = "0.1.0"
