"""The ``accord`` command line (typer): one module per command group."""
