"""`python -m gankit` runs the CLI (also how torchrun starts it)."""

from gankit.cli import entry_point

entry_point()
