"""`python -m gongkai` = the `gongkai` command."""

from gongkai.cli import app

app()
