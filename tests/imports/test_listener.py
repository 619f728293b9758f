"""`manage.py hl7_listener` driven over a real TCP socket: one ACK per message with the
control id (AA imported or duplicate, AE unmatched, AR unreadable), and a listener that
survives garbage, half-sent frames and dropped connections."""

import socket
import time
from datetime import date, timedelta

import pytest

from imports.mllp import END_BLOCK, START_BLOCK, FrameReader, frame
from imports.models import ImportMessage
from surveillance.models import Result
from tests.factories import PatientFactory
from tests.imports.hl7 import oru

pytestmark = [pytest.mark.wallclock, pytest.mark.django_db(transaction=True)]


def today() -> date:
    return date.today()


def message(**changes) -> bytes:
    values = {"collected_on": today() - timedelta(days=12), "reported_on": today()}
    values.update(changes)
    return oru(**values).encode()


def read_ack(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(END_BLOCK):
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before the ACK; got {data!r}")
        data += chunk
    assert data.startswith(START_BLOCK)
    return data[1:-2].decode()


def msa(ack: str) -> list[str]:
    (line,) = [s for s in ack.split("\r") if s.startswith("MSA")]
    return line.split("|")


def exchange(port: int, *payloads: bytes, acks: int = 1) -> list[str]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        for payload in payloads:
            sock.sendall(payload)
        return [read_ack(sock) for _ in range(acks)]


@pytest.fixture
def patient():
    return PatientFactory(mrn="MRN-A", birth_date=date(1960, 3, 1))


def test_a_message_is_imported_and_acknowledged_with_its_control_id(listener, patient):
    (ack,) = exchange(listener, frame(message(control_id="CTRL-1")))

    assert msa(ack)[1:3] == ["AA", "CTRL-1"]
    assert ack.startswith("MSH|^~\\&|ESR1WATCH|CLINIC|GH_LIS|GUARDANT|")
    result = Result.objects.get(draw__patient=patient)
    assert (result.source, result.esr1_status) == ("hl7v2", "detected")
    assert ImportMessage.objects.get().channel == "mllp"


def test_the_same_message_again_is_acknowledged_and_changes_nothing(listener, patient):
    exchange(listener, frame(message(control_id="C1")))
    (ack,) = exchange(listener, frame(message(control_id="C2")))

    assert msa(ack)[1:3] == ["AA", "C2"], ack
    assert "duplicate" in ack
    assert Result.objects.count() == 1


def test_an_unmatched_report_is_answered_ae(listener):
    (ack,) = exchange(listener, frame(message(mrn="NOBODY", control_id="C3")))

    assert msa(ack)[1:3] == ["AE", "C3"]
    assert "No patient has MRN NOBODY" in ack


def test_unreadable_content_is_answered_ar_with_the_control_id_when_readable(listener):
    broken = b"MSH|^~\\&|GH|LAB|X|Y|20260101||ORU^R01|BROKEN-7|P|2.5.1\rPID|1||\rOBR|1\r"
    (ack,) = exchange(listener, frame(broken))

    assert msa(ack)[1:3] == ["AR", "BROKEN-7"]
    assert ImportMessage.objects.get().state == "rejected"


def test_garbage_between_frames_is_ignored(listener, patient):
    (ack,) = exchange(listener, b"\x00\xffGET / HTTP/1.1\r\n\r\n" + frame(message()) + b"junk")

    assert msa(ack)[1] == "AA"


def test_a_message_split_into_many_writes_and_two_in_one_write(listener, patient):
    payload = frame(message(control_id="SPLIT"))
    with socket.create_connection(("127.0.0.1", listener), timeout=30) as sock:
        for i in range(0, len(payload), 7):
            sock.sendall(payload[i : i + 7])
            time.sleep(0.001)
        assert msa(read_ack(sock))[1:3] == ["AA", "SPLIT"]
    other = frame(message(mrn="NOBODY", accession="ACC-B", control_id="B"))
    acks = exchange(listener, frame(message(control_id="A")) + other, acks=2)
    assert [msa(a)[1:3] for a in acks] == [["AA", "A"], ["AE", "B"]]


def test_half_frames_and_dropped_connections_do_not_stop_the_listener(listener, patient):
    # A frame cut off by the sender: nothing recorded, no ACK owed.
    with socket.create_connection(("127.0.0.1", listener)) as sock:
        sock.sendall(frame(message())[:50])
    # A sender that goes away before reading its ACK.
    with socket.create_connection(("127.0.0.1", listener)) as sock:
        sock.sendall(frame(message(mrn="NOBODY", accession="ACC-G", control_id="GONE")))
    # A connection reset mid-frame.
    sock = socket.create_connection(("127.0.0.1", listener))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.sendall(START_BLOCK + b"MSH|^~\\&|")
    sock.close()

    (ack,) = exchange(listener, frame(message(control_id="AFTER")))

    assert msa(ack)[1:3] == ["AA", "AFTER"], ack
    assert Result.objects.count() == 1


def test_the_frame_reader_refuses_a_frame_over_the_limit_and_reads_the_next():
    reader = FrameReader(limit=10)
    assert reader.feed(START_BLOCK + b"x" * 8) == []
    assert reader.feed(b"y" * 8) == [None]
    assert reader.feed(b"z" * 30) == []
    assert reader.feed(END_BLOCK + b"noise" + frame(b"MSH|ok")) == [b"MSH|ok"]
