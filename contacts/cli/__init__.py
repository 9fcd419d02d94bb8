"""The ``contacts`` command: one module per command, each a client of the public library.

Every command module has ``NAME``, ``HELP``, ``DESCRIPTION``, ``add_arguments(parser)``
and ``run(args) -> int``; :func:`main` assembles them. Building the parser imports
neither torch nor any other heavy library: they load when a command runs.
"""

from .main import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]
