import sys

# Cron's `run --warm`: handed to a warm process before anything but the standard library is
# imported (the client's own start is CPU every minute).
from sweeplake.warm import warm_start

code = warm_start(sys.argv[1:])
if code is None:
    from sweeplake.cli import console

    code = console(warm_tried=True)
sys.exit(code)
