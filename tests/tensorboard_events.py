"""A TensorBoard event file reader of the tests' own, independent of the code under test: the
TFRecord framing checked record by record (lengths and masked CRC-32C, as TensorBoard's reader
checks them), each record parsed as an ``Event`` with tensorboardX's protobufs."""

import struct
from collections import defaultdict


def crc32c(data):
    """CRC-32C (Castagnoli), bit by bit: slow, but short and plainly the definition."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data):
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_events(path):
    """Every ``Event`` of the file at ``path``; a damaged or torn record fails the test."""
    from tensorboardX.proto.event_pb2 import Event

    payload, start, events = path.read_bytes(), 0, []
    while start < len(payload):
        header = payload[start:start + 8]
        (length,) = struct.unpack("<Q", header)
        assert struct.unpack_from("<I", payload, start + 8)[0] == masked_crc32c(header), path
        data = payload[start + 12:start + 12 + length]
        assert len(data) == length, f"{path}: a torn record"
        assert struct.unpack_from("<I", payload, start + 12 + length)[0] == \
            masked_crc32c(data), path
        events.append(Event.FromString(data))
        start += 12 + length + 4
    return events


def scalars(folder):
    """``{tag: [(step, value), ...]}`` of every scalar in the event files of ``folder``, in the
    files' order (by name, as TensorBoard reads them), a step written twice listed twice."""
    found = defaultdict(list)
    for path in sorted(folder.glob("*.tfevents.*")):
        events = read_events(path)
        assert events[0].file_version == "brain.Event:2", path
        for event in events:
            for value in event.summary.value:
                found[value.tag].append((event.step, value.simple_value))
    return dict(found)
