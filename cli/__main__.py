"""``python -m cli ...``: the same as the ``avatar`` command."""

from cli.main import app

app()
