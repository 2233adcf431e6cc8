#!/usr/bin/env python3
"""Talk to a CQL node over the native protocol (v4) with nothing but the standard library.

Used by scripts/cassandra.sh to tell whether the test node is up: a node "answers" when it
accepts a connection, replies READY to STARTUP and returns a RESULT for a real query.

    cql_ping.py                          # prints release_version, exit 0 if the node answers
    cql_ping.py -q                       # same, silent
    cql_ping.py -e "CREATE KEYSPACE ..." -e "SELECT ..."   # run statements in order
    cql_ping.py -f statements.cql        # statements separated by ';' at the end of a line

The address is --address, else $TIDINGS_TEST_CQL, else 127.0.0.1:19042. Rows are printed
tab-separated under a header line. Exit status: 0 ok, 1 cannot connect or protocol failure,
2 the server answered a statement with an ERROR frame.
"""

import argparse
import os
import socket
import struct
import sys
import uuid

PROTOCOL_VERSION = 0x04
DEFAULT_ADDRESS = "127.0.0.1:19042"
PING_QUERY = "SELECT release_version FROM system.local"

OP_ERROR, OP_STARTUP, OP_READY, OP_AUTHENTICATE = 0x00, 0x01, 0x02, 0x03
OP_QUERY, OP_RESULT = 0x07, 0x08

RESULT_VOID, RESULT_ROWS, RESULT_SET_KEYSPACE, RESULT_SCHEMA_CHANGE = 1, 2, 3, 5

CONSISTENCY = {
    "ANY": 0x0000, "ONE": 0x0001, "TWO": 0x0002, "THREE": 0x0003, "QUORUM": 0x0004,
    "ALL": 0x0005, "LOCAL_QUORUM": 0x0006, "EACH_QUORUM": 0x0007, "SERIAL": 0x0008,
    "LOCAL_SERIAL": 0x0009, "LOCAL_ONE": 0x000A,
}


class ProtocolError(Exception):
    """The peer is not speaking CQL the way we expect."""


class ServerError(Exception):
    """The server answered with an ERROR frame."""

    def __init__(self, code, message):
        super().__init__(f"server error 0x{code:04x}: {message}")


class Reader:
    """Decodes the protocol's notation ([int], [string], [bytes], ...) from a frame body."""

    def __init__(self, body):
        self.body = body
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.body):
            raise ProtocolError("frame body ends early")
        chunk = self.body[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def byte(self):
        return self.take(1)[0]

    def short(self):
        return struct.unpack(">H", self.take(2))[0]

    def int(self):
        return struct.unpack(">i", self.take(4))[0]

    def string(self):
        return self.take(self.short()).decode("utf-8")

    def bytes(self):
        n = self.int()
        return None if n < 0 else self.take(n)

    def option(self):
        """A column type: (id, parameters) where parameters describe collections and UDTs."""
        type_id = self.short()
        if type_id == 0x0000:  # custom
            return (type_id, self.string())
        if type_id in (0x0020, 0x0022):  # list, set
            return (type_id, self.option())
        if type_id == 0x0021:  # map
            return (type_id, (self.option(), self.option()))
        if type_id == 0x0030:  # UDT
            self.string()
            self.string()
            fields = [(self.string(), self.option()) for _ in range(self.short())]
            return (type_id, fields)
        if type_id == 0x0031:  # tuple
            return (type_id, [self.option() for _ in range(self.short())])
        return (type_id, None)


def string_map(pairs):
    out = struct.pack(">H", len(pairs))
    for key, value in pairs.items():
        for text in (key, value):
            raw = text.encode("utf-8")
            out += struct.pack(">H", len(raw)) + raw
    return out


class Connection:
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.stream = 0

    def close(self):
        self.sock.close()

    def _recv_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ProtocolError("connection closed by the server")
            data += chunk
        return data

    def request(self, opcode, body):
        """Sends one frame and returns (opcode, body) of the reply on the same stream."""
        self.stream = (self.stream + 1) % 32768
        header = struct.pack(">BBhBi", PROTOCOL_VERSION, 0, self.stream, opcode, len(body))
        self.sock.sendall(header + body)
        while True:
            version, flags, stream, reply_op, length = struct.unpack(">BBhBi", self._recv_exact(9))
            if version & 0x7F != PROTOCOL_VERSION or not version & 0x80:
                raise ProtocolError(f"unexpected reply version byte 0x{version:02x}")
            payload = self._recv_exact(length)
            if flags & 0x01:
                raise ProtocolError("server sent a compressed frame we did not ask for")
            if stream != self.stream:
                continue  # an event or a reply to something else: not ours
            reader = Reader(payload)
            if flags & 0x02:  # tracing id
                reader.take(16)
            if flags & 0x08:  # warnings
                for _ in range(reader.short()):
                    print(f"warning: {reader.string()}", file=sys.stderr)
            if flags & 0x04:  # custom payload
                for _ in range(reader.short()):
                    reader.string()
                    reader.bytes()
            if reply_op == OP_ERROR:
                code = reader.int()
                raise ServerError(code, reader.string())
            return reply_op, reader

    def startup(self):
        opcode, _ = self.request(OP_STARTUP, string_map({"CQL_VERSION": "3.0.0"}))
        if opcode == OP_AUTHENTICATE:
            raise ProtocolError("server requires authentication; the test node must not")
        if opcode != OP_READY:
            raise ProtocolError(f"expected READY, got opcode 0x{opcode:02x}")

    def query(self, statement, consistency):
        raw = statement.encode("utf-8")
        body = struct.pack(">i", len(raw)) + raw + struct.pack(">HB", consistency, 0)
        opcode, reader = self.request(OP_QUERY, body)
        if opcode != OP_RESULT:
            raise ProtocolError(f"expected RESULT, got opcode 0x{opcode:02x}")
        return decode_result(reader)


def decode_value(col_type, raw):
    if raw is None:
        return "null"
    type_id, _ = col_type
    if type_id in (0x0001, 0x000D):  # ascii, varchar
        return raw.decode("utf-8", "replace")
    if type_id == 0x0004:  # boolean
        return "true" if raw and raw[0] else "false"
    if type_id in (0x0002, 0x0005, 0x000B, 0x0009, 0x0013, 0x0014, 0x000E) and raw:
        # bigint, counter, timestamp, int, smallint, tinyint, varint
        return str(int.from_bytes(raw, "big", signed=True))
    if type_id in (0x000C, 0x000F) and len(raw) == 16:  # uuid, timeuuid
        return str(uuid.UUID(bytes=raw))
    if type_id == 0x0007 and len(raw) == 8:  # double
        return repr(struct.unpack(">d", raw)[0])
    if type_id == 0x0008 and len(raw) == 4:  # float
        return repr(struct.unpack(">f", raw)[0])
    return "0x" + raw.hex()


def decode_result(reader):
    """Returns (kind, header, rows); header and rows are lists of strings for ROWS results."""
    kind = reader.int()
    if kind != RESULT_ROWS:
        return kind, None, None
    flags = reader.int()
    column_count = reader.int()
    if flags & 0x0002:  # has more pages
        reader.bytes()
    columns = []
    if not flags & 0x0004:  # metadata present
        global_spec = flags & 0x0001
        if global_spec:
            reader.string()
            reader.string()
        for _ in range(column_count):
            if not global_spec:
                reader.string()
                reader.string()
            columns.append((reader.string(), reader.option()))
    rows = []
    for _ in range(reader.int()):
        values = [reader.bytes() for _ in range(column_count)]
        if columns:
            rows.append([decode_value(col[1], value) for col, value in zip(columns, values)])
        else:
            rows.append(["0x" + v.hex() if v is not None else "null" for v in values])
    return kind, [name for name, _ in columns], rows


def split_statements(text):
    statements, current = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("--")):
            continue
        current.append(line)
        if stripped.endswith(";"):
            statements.append("\n".join(current).strip().rstrip(";"))
            current = []
    if current and "\n".join(current).strip():
        statements.append("\n".join(current).strip().rstrip(";"))
    return statements


def parse_address(address):
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise SystemExit(f"cql_ping: address must be host:port, got {address!r}")
    return host.strip("[]"), int(port)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default=os.environ.get("TIDINGS_TEST_CQL", DEFAULT_ADDRESS),
                        help="host:port of the CQL node (default $TIDINGS_TEST_CQL or %(default)s)")
    parser.add_argument("--timeout", type=float, default=5.0, help="socket timeout in seconds")
    parser.add_argument("--consistency", default="ONE", choices=sorted(CONSISTENCY))
    parser.add_argument("-e", "--execute", action="append", default=[], metavar="STATEMENT",
                        help="statement to run; repeat to run several in order")
    parser.add_argument("-f", "--file", help="file of statements, each ending with ';'")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing, exit status only")
    args = parser.parse_args()

    statements = list(args.execute)
    if args.file:
        with open(args.file, encoding="utf-8") as handle:
            statements += split_statements(handle.read())
    ping = not statements
    if ping:
        statements = [PING_QUERY]

    host, port = parse_address(args.address)
    try:
        conn = Connection(host, port, args.timeout)
    except OSError as err:
        if not args.quiet:
            print(f"cql_ping: cannot connect to {host}:{port}: {err}", file=sys.stderr)
        return 1
    try:
        conn.startup()
        for statement in statements:
            kind, header, rows = conn.query(statement, CONSISTENCY[args.consistency])
            if args.quiet:
                continue
            if ping:
                print(rows[0][0] if rows else "")
            elif kind == RESULT_ROWS:
                print("\t".join(header))
                for row in rows:
                    print("\t".join(row))
            else:
                print({RESULT_VOID: "ok", RESULT_SET_KEYSPACE: "ok (keyspace set)",
                       RESULT_SCHEMA_CHANGE: "ok (schema changed)"}.get(kind, f"ok (result {kind})"))
    except ServerError as err:
        if not args.quiet:
            print(f"cql_ping: {err}", file=sys.stderr)
        return 2
    except (OSError, ProtocolError) as err:
        if not args.quiet:
            print(f"cql_ping: {host}:{port}: {err}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
