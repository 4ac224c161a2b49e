"""The ``derma`` command line: thin subcommands that parse, call the library and print.

Each command group lives in its own module and registers itself on :data:`main` when imported.
"""

from derma.cli import (  # noqa: F401 - registers the commands
    delivery,
    lake,
    loading,
    mappings,
    modelling,
    notes,
    reading,
    reporting,
    serving,
)
from derma.cli.base import main

__all__ = ["main"]
