"""``python -m genhep`` is the ``genhep`` command."""

from genhep.cli import main

main()
