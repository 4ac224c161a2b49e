"""The ``derma`` command line: thin subcommands that parse, call the library and print.

Each command group lives in its own module and registers itself on :data:`main` when imported.
"""

from derma.cli import delivery, loading, modelling, notes, reading, reporting, serving  # noqa: F401 - registers the commands
from derma.cli.base import main

__all__ = ["main"]
