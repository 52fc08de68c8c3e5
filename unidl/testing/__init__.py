"""Testing support: the pytest plugin (``backend`` fixture) and, for backend authors,
helpers to run unidl's own checks against any installed backend."""
