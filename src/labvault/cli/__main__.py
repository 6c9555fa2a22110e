"""``python -m labvault.cli``: how the tests and a checkout without the console script run it."""

from labvault.cli import main

main()
