"""``innova-update``: the command line for IT staff (see docs/cli.md).

An entry point: ``main`` parses and dispatches to the service facade, renders results as
text or JSON, and ``exitcodes`` turns the error tree into exit codes. It may import
anything below it; nothing in the engine imports it, except the publisher's own command
line (:mod:`updater.publish.cli`), which shares ``argparse_i18n``.
"""
