"""The unidl version: one place, read by ``pyproject.toml`` and by the modules that record
or print it, so none of them has to import the package root (which imports everything)."""

__version__ = "0.1.0"
