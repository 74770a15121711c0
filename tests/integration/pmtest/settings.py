"""pmtest.settings - where the harness finds the build, and its fixed test data.

The build tree (BUILD_DIR, from $POSTMETER_BUILD_DIR), the client
addresses and host name, the default mailboxes, the test DNS zones and
the system users the daemons run as. Each is defined only here; the other
pmtest modules read them as settings.NAME when they use them.
pmtest.harness re-exports them for the test scripts to read.
"""

import os

__all__ = ["SOURCE_DIR", "BUILD_DIR", "INBOUND_IP", "OUTBOUND_IP", "HOSTNAME",
           "DEFAULT_USERS", "ZONES", "ZONE_DATA", "MAIL_USER", "MILTER_USER"]

SOURCE_DIR = os.environ.get(
    "POSTMETER_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))
BUILD_DIR = os.environ.get("POSTMETER_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))

INBOUND_IP = "127.0.0.2"    # not in trusted_networks
OUTBOUND_IP = "127.0.0.1"   # trusted_networks = 127.0.0.1/32
HOSTNAME = "mx.example.test"

# The mailboxes: address -> password. Both domains are local
# (virtual_mailbox_domains), so "outbound" mail to remote.test is
# delivered too and can be read back.
DEFAULT_USERS = {
    "alice@example.test": "alice-pw",
    "bob@example.test": "bob-pw",
    "carol@remote.test": "carol-pw",
    "dave@remote.test": "dave-pw",
}

# Test DNS data (served by unbound; dns_servers of the milter point there).
ZONES = [("example.test.", "static"), ("remote.test.", "static"),
         ("127.in-addr.arpa.", "static")]
ZONE_DATA = [
    "example.test. 300 IN MX 10 mx.example.test.",
    "mx.example.test. 300 IN A 127.0.0.1",
    "remote.test. 300 IN MX 10 mx.remote.test.",
    "mx.remote.test. 300 IN A 127.0.0.2",
    "1.0.0.127.in-addr.arpa. 300 IN PTR mx.example.test.",
    "2.0.0.127.in-addr.arpa. 300 IN PTR mx.remote.test.",
]

MAIL_USER = "mail"          # Dovecot mail_uid / mail_gid
MILTER_USER = "nobody"      # postmeter-milter's config user
