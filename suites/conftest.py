"""Loads the ``parity`` plugin for a checkout that is not installed, plus ``pytester``.

``harness.pytest_plugin`` is a ``pytest11`` entry point once the project is installed
(``pip install -e .``); a checkout run with ``PYTHONPATH=.`` has no entry point, so it is
loaded here by name. Loading it both ways would register it twice, which pytest rejects.
``pytester`` runs inner pytest sessions (the plugin's own tests).
"""

from __future__ import annotations

from harness.pytest_plugin import entry_point_installed

pytest_plugins = ["pytester"] + ([] if entry_point_installed() else ["harness.pytest_plugin"])
