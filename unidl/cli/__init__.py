"""The ``unidl`` command.

- :mod:`unidl.cli.app`: the argument parser and ``main`` (exit codes, error lines);
- :mod:`unidl.cli.commands`: what each subcommand does;
- :mod:`unidl.cli.specfile`: reading a SPEC file (YAML/JSON, with ``fit:`` settings);
- :mod:`unidl.cli.locate`: where in the file a dotted path of the document is;
- :mod:`unidl.cli.datafiles`: the data files ``--data`` reads (``.npz``, ``.npy``, CSV).
"""

from .app import main

__all__ = ["main"]
