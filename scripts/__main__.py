import sys

from scripts.cli import console

sys.exit(console())
