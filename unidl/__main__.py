"""``python -m unidl``: the ``unidl`` command line."""

from .cli import main

raise SystemExit(main())
