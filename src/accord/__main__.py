"""``python -m accord``: the same command line as ``accord``."""

from accord.cli.app import main

main()
