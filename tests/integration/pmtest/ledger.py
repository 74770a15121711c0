"""pmtest.ledger - the Harness's view of postmeter's ledger.

LedgerMixin is the part of pmtest.harness.Harness that runs the postmeter
CLI on the harness's postmeter.conf and reads the ledger: report rows as
JSON, polling for rows, and raw read-only SQL on the database.
"""

import json
import sqlite3

from pmtest.procs import run, wait_for


class LedgerMixin:
    """LedgerMixin - postmeter CLI and ledger database queries for Harness.

    Uses cli_bin and what the milter part's write_milter_conf() sets:
    milter_conf_path and database.
    """

    def cli(self, *args, check=True, timeout=60, input=None):
        """cli - run postmeter -c CONF ARGS (stdin: input bytes); CompletedProcess"""
        return run([self.cli_bin, "-c", self.milter_conf_path] + list(args), check=check,
                   timeout=timeout, input=input)

    def ledger_rows(self, *filters):
        """ledger_rows - postmeter report messages --format json, as a list"""
        p = self.cli("report", "messages", "--format", "json", *filters)
        out = p.stdout.decode("utf-8", "surrogateescape").strip()
        return json.loads(out) if out else []

    def wait_ledger_rows(self, n, timeout=30, *filters):
        """wait_ledger_rows - poll until the report has >= n rows; return them"""
        def enough():
            rows = self.ledger_rows(*filters)
            return rows if len(rows) >= n else None
        try:
            return wait_for(enough, timeout, "%d ledger row(s)" % n, interval=0.3)
        except TimeoutError:
            raise TimeoutError("ledger has %d row(s) after %d s, wanted %d" % (
                len(self.ledger_rows(*filters)), timeout, n))

    def db_query(self, sql, params=()):
        """db_query - raw read-only SQL on the ledger database (sqlite3 module)"""
        con = sqlite3.connect("file:%s?mode=ro" % self.database, uri=True, timeout=10)
        try:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute(sql, params)]
        finally:
            con.close()
