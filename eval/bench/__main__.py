"""``python -m eval.bench [ARGS]``: the same as ``qa bench [ARGS]``."""

import sys

from qa.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
