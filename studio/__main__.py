"""python -m studio <command>: see studio/cli.py."""
import sys

from .cli import main

sys.exit(main())
