"""The hostile suite: bad input sent to every target, counted per category.

- ``case``: a case as data (request bytes, actor, expected status class and body shape);
- ``catalog`` (+ ``catalog.toml``, ``_build_*``, ``concurrency``): the categories;
- ``runner``: send, classify (ok / 5xx / hang / mismatch), intact checks, restarts;
- ``repro``: a curl command per failing case; ``report``: tables and ``hostile.json``;
- ``command``: ``parity hostile``.
"""
