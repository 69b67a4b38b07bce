"""vfiomig: a client of vfiomigd's control socket (docs/protocol.md).

    import vfiomig
    with vfiomig.Client("/run/vfiomigd/control.sock") as c:
        c.prepare_incoming("vm1", token)          # on the destination
        job = c.migrate("vm1", "10.0.0.2:4444", token)   # on the source
        info = c.wait_done("vm1", timeout=60)

The messages are protobuf's, generated from proto/vfiomig-ctl.proto at
build time (module vfiomig.pb, i.e. vfiomig_ctl_pb2); the client's
methods take and return them.  See clients/python/README.md.
"""

# The generated module lives in the build tree while the sources are in
# the source tree (make check): both directories named vfiomig on
# sys.path make up the package.  Installed, they are one.
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

from . import vfiomig_ctl_pb2 as pb  # noqa: E402
from .client import (  # noqa: E402
    DEFAULT_SOCKET,
    PROTOCOL_VERSIONS,
    Client,
    Error,
    device_spec,
)

__all__ = [
    "DEFAULT_SOCKET",
    "PROTOCOL_VERSIONS",
    "Client",
    "Error",
    "device_spec",
    "pb",
]
