"""Shared code for the course *From Attention to Product*.

Each module holds one topic and is built inline in a chapter first:

- ``env``: quick mode, device, seed, cache folder, environment report (every chapter)
- ``data``: the offline data registry and one loader per dataset or model
- ``notebook``: execute a chapter in full mode and stamp it
- ``exercises``: checkers for the exercises
- ``plotting``: the book's plotting style

Shared vocabulary for names: ``d_model``, ``n_heads``, ``d_head``, ``seq_len``, ``batch_size``,
``vocab_size``, ``logits``, ``probs``.
"""

__version__ = "0.1.0"
