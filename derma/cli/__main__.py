"""``python -m derma.cli``: the same as the ``derma`` console script."""

from derma.cli import main

main()
