"""``python -m keito_skill`` runs the CLI."""

from keito_skill.cli import main

main()
