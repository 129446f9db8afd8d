"""The ``avatar`` command line (Typer app in :mod:`cli.main`): an entry point, free to import any package."""
