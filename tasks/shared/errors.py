"""The root of every error afr-box raises for a user to act on.

Each subclass (in the layer that raises it) says in its docstring when it is raised and what to
fix; its message names the file, field, command or node concerned. The CLI turns any AfrError
into one line on stderr and exit code 2, never a traceback. It lives in the bottom layer (the
fixed task code, which also runs inside containers) so that every layer can subclass it.
"""


class AfrError(Exception):
    """Something the user can fix: bad input, a missing prerequisite, a refused operation."""
