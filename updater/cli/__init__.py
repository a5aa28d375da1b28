"""``innova-update``: the command line for IT staff (see docs/cli.md)."""
