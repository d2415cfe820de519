"""PocketParity's harness: targets, the differential runner, registry, reports, ``parity``."""

import sys

# The normaliser, differ and repro writer walk response bodies recursively, a few frames
# per level, and PocketBase serves JSON nested up to 10,000 levels (Go's json v2 limit).
# Pure-Python recursion does not grow the C stack on the supported Pythons (3.11+), so a
# higher limit is safe here; the server (reference_impl) caps its own input instead.
_DEEP_JSON_FRAMES = 40_000
if sys.getrecursionlimit() < _DEEP_JSON_FRAMES:
    sys.setrecursionlimit(_DEEP_JSON_FRAMES)
