"""``python -m sb3_metadqn``: the ``metadqn`` command line."""

import sys

from sb3_metadqn.cli import main

sys.exit(main())
