"""
mxdtest: the shared helpers of the mxd integration tests, a package
with a module per concern (tap, server, smtp, eml; later pop3, http).

Standard library only.  Three parts:

  Server   a running `mxd -f` on a free loopback port with its own spool
           (a temporary directory), its stderr captured to a log file.
  Client   a raw-socket SMTP client: send() bytes, reply() reads one whole
           (possibly multi-line) reply, cmd() sends a line and reads the
           reply.  Every socket has a timeout and every loop is bounded.
  run()    a tiny TAP runner for automake's tap-driver: each `test_*`
           function of the calling module is one test case.

Test files run as `python3 tests/integration/t_x.py` with MXD set to the
absolute path of src/mxd and PYTHONPATH set to this directory.
"""

from .tap import *          # noqa: F401,F403
from .tap import _tap_text  # noqa: F401
from .eml import *          # noqa: F401,F403
from .smtp import *         # noqa: F401,F403
from .server import *       # noqa: F401,F403
from .server import _servers, _oneshot  # noqa: F401
from . import http  # noqa: F401
