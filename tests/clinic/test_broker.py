"""``clinic.broker``: the embedded broker writes each message file whole, and round-trips messages."""

from __future__ import annotations

import os

import pytest
from kombu import Connection
from kombu.exceptions import ChannelError

from clinic import broker


def _connection(folder) -> Connection:
    return Connection(
        "filesystem://",
        transport=broker.Transport,
        transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        },
    )


def test_a_message_appears_under_its_real_name_only_once_written_whole(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def replace(source, target):
        # At the rename: the worker-visible name does not exist yet, the partial file is complete.
        seen.append((os.path.exists(target), os.path.basename(source).startswith("."), os.path.getsize(source)))
        real_replace(source, target)

    monkeypatch.setattr(broker.os, "replace", replace)
    with _connection(tmp_path) as connection:
        queue = connection.SimpleQueue("tasks")
        queue.put({"ids": [1, 2, 3]})
        [(existed, hidden, size)] = seen
        assert not existed and hidden and size > 0
        assert [f.endswith(".tasks.msg") for f in os.listdir(tmp_path) if f != "control"] == [True]
        message = queue.get(timeout=1)
        assert message.payload == {"ids": [1, 2, 3]}
        message.ack()
        queue.close()
    assert [f for f in os.listdir(tmp_path) if f != "control"] == []


def test_the_embedded_brokers_url_names_this_transport(tmp_path):
    import config.celery  # noqa: F401 - registers the alias, as every process that loads the app does

    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path), "control_folder": str(tmp_path)}
    with Connection("clinicfs://", transport_options=options) as connection:
        assert connection.transport_cls == "clinicfs"
        assert isinstance(connection.transport, broker.Transport)


def test_a_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def refuse(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(broker.os, "replace", refuse)
    with _connection(tmp_path) as connection:
        channel = connection.channel()
        with pytest.raises(ChannelError):
            channel._put("tasks", {"ids": [1]})
        channel.close()
    assert [f for f in os.listdir(tmp_path) if f != "control"] == []
