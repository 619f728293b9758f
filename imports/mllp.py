"""The MLLP listener (`manage.py hl7_listener`): HL7 v2 messages over TCP.

MLLP frames each message as 0x0B <message> 0x1C 0x0D. Each complete frame is imported through
the same pipeline as `POST /api/v1/imports/hl7v2/` and answered with one HL7 ACK carrying the
message's control id: `AA` imported, duplicate or preliminary, `AE` unmatched or rejected
content, `AR` unreadable or too large. The listener survives whatever a connection does:
bytes outside a frame are dropped, a frame cut off by a closed connection is dropped (the
sender never got an ACK, so it sends again), a frame over the size limit is refused with `AR`
and the rest of it skipped, and an error in one connection never stops the others.

The database work runs in a small thread pool (Django's ORM is synchronous); each thread keeps
its own connection and closes it when it has gone stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import count

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, close_old_connections

from accounts.models import User
from accounts.roles import Role
from accounts.services import user_create
from imports.models import Channel, Format, State
from imports.services import MAX_MESSAGE_BYTES, MessageTooLarge, Unreadable, import_message

logger = logging.getLogger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
READ_SIZE = 65536
IDLE_TIMEOUT_SECONDS = 300

ACK_CODE = {
    State.IMPORTED: "AA",
    State.DUPLICATE: "AA",
    State.PRELIMINARY: "AA",
    State.UNMATCHED: "AE",
    State.REJECTED: "AE",
}

_sequence = count(1)


def frame(message: bytes) -> bytes:
    return START_BLOCK + message + END_BLOCK


class FrameReader:
    """Cuts MLLP frames out of a byte stream, however it is split into reads."""

    def __init__(self, limit: int = MAX_MESSAGE_BYTES):
        self.limit = limit
        self._buffer = bytearray()
        self._in_frame = False
        self._skipping = False  # inside a frame that went over the limit

    def feed(self, data: bytes) -> list[bytes | None]:
        """Complete frames found so far; None stands for a frame refused as too large."""
        self._buffer += data
        frames: list[bytes | None] = []
        while True:
            if not self._in_frame:
                start = self._buffer.find(START_BLOCK)
                if start < 0:
                    self._buffer.clear()  # garbage between frames
                    return frames
                del self._buffer[: start + 1]
                self._in_frame = True
            end = self._buffer.find(END_BLOCK)
            if end < 0:
                if len(self._buffer) > self.limit:
                    if not self._skipping:
                        frames.append(None)
                        self._skipping = True
                    # Keep the last byte: it may be the first half of the end block.
                    del self._buffer[:-1]
                return frames
            body = bytes(self._buffer[:end])
            del self._buffer[: end + len(END_BLOCK)]
            self._in_frame = False
            if self._skipping:
                self._skipping = False
            elif len(body) > self.limit:
                frames.append(None)
            else:
                frames.append(body)


_FIELD = re.compile(rb"^MSH(.)", re.MULTILINE)


def header_fields(message: bytes) -> list[str]:
    """MSH's fields (index = HL7 field number), read leniently so that even a message the
    parser refuses can be answered with its control id."""
    text = message.decode("latin-1")
    for line in re.split(r"[\r\n]+", text):
        line = line.lstrip("\x0b")
        if line.startswith("MSH") and len(line) > 3:
            separator = line[3]
            # MSH-1 is the separator itself: the fields after it start at MSH-2.
            return ["MSH", separator, *line[4:].split(separator)]
    return []


def ack(message: bytes | None, code: str, text: str, control_id: str = "") -> bytes:
    fields = header_fields(message or b"")

    def field(n: int) -> str:
        return fields[n] if len(fields) > n else ""

    control_id = control_id or field(10)
    version = field(12) or "2.5.1"
    encoding = field(2) or "^~\\&"
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    clean = re.sub(r"[|^~\\&\r\n]", " ", text)[:200]
    segments = [
        f"MSH|{encoding}|ESR1WATCH|CLINIC|{field(3)}|{field(4)}|{now}||ACK^R01^ACK|"
        f"ACK{now}{next(_sequence):06d}|P|{version}",
        f"MSA|{code}|{control_id}|{clean}",
    ]
    if code != "AA":
        segments.append(f"ERR|||{'207' if code == 'AE' else '100'}|E|||{clean}")
    return ("\r".join(segments) + "\r").encode()


def listener_account(username: str):
    """The interface account messages are recorded as, created when missing. Read again for
    each message, so a deactivated account stops the listener's imports at once."""
    actor = User.objects.filter(username=username).first()
    if actor is None:
        try:
            actor = user_create(username=username, role=Role.INTERFACE, password=None)
            logger.info("created interface account %s for the HL7 listener", username)
        except (ValidationError, IntegrityError):
            # Another connection's thread created it a moment ago.
            actor = User.objects.get(username=username)
    return actor


def handle_message(account: str, message: bytes | None) -> bytes:
    """Import one framed message (blocking: run in a thread) and build its ACK."""
    if message is None:
        return ack(None, "AR", f"Message over {MAX_MESSAGE_BYTES} bytes refused")
    close_old_connections()
    try:
        actor = listener_account(account)
        stored = import_message(actor=actor, fmt=Format.HL7V2, raw=message, channel=Channel.MLLP)
    except Unreadable as exc:
        return ack(message, "AR", exc.message.reason, exc.message.control_id)
    except MessageTooLarge as exc:
        return ack(message, "AR", str(exc))
    except PermissionDenied:
        return ack(message, "AR", f"Account {account} may not import reports")
    except Exception:
        logger.exception("import over MLLP failed")
        return ack(message, "AE", "Internal error; send again later")
    finally:
        close_old_connections()
    reason = stored.reason or stored.get_state_display()
    return ack(message, ACK_CODE[stored.state], f"{stored.state}: {reason}", stored.control_id)


class Listener:
    def __init__(self, *, account: str, threads: int = 4):
        self.account = account
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mllp")
        self.connections = 0

    async def serve_connection(self, reader, writer) -> None:
        peer = writer.get_extra_info("peername")
        self.connections += 1
        frames = FrameReader()
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await asyncio.wait_for(reader.read(READ_SIZE), IDLE_TIMEOUT_SECONDS)
                if not data:
                    break
                for message in frames.feed(data):
                    reply = await loop.run_in_executor(
                        self.executor, handle_message, self.account, message
                    )
                    writer.write(frame(reply))
                    await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError) as exc:
            logger.info("MLLP connection from %s ended: %s", peer, type(exc).__name__)
        except Exception:
            logger.exception("MLLP connection from %s failed", peer)
        finally:
            self.connections -= 1
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def serve(self, host: str, port: int, ready=None) -> None:
        server = await asyncio.start_server(self.serve_connection, host, port)
        if ready is not None:
            ready(server)
        async with server:
            await server.serve_forever()
