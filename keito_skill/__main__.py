"""``python -m keito_skill`` runs the CLI (hooks take the fast path, as the script does)."""

from keito_skill._entry import main

main()
