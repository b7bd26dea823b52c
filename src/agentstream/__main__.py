"""`python -m agentstream`: the `agentstream` command (`demo` when no command is given)."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
