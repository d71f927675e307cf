"""keito-skill: billing-grade Keito records from coding-agent sessions.

Data flows one way: transcript -> summary -> ledger -> sync -> Keito.
The public surface is small on purpose; everything else is internal.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
