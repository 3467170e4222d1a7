import sys

from sweeplake.cli import console

sys.exit(console())
