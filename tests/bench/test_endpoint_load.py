"""The load driver against a server that does not speak HTTP: every failure counted, no client left waiting."""

from __future__ import annotations

import socket
import threading

from converter.bench.endpoint import _closed_loop
from converter.deploy.endpoint import Client


def test_answers_that_are_not_http_are_errors_not_a_hang():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]

    def answer_garbage() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            with connection:
                connection.recv(65536)
                connection.sendall(b"garbage\r\n\r\n")

    server = threading.Thread(target=answer_garbage)
    server.start()
    try:
        latencies, errors, _, first = _closed_loop(Client("v2", f"http://127.0.0.1:{port}", "m"), b"{}", 2, 0.5)
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        server.join(10)
    assert latencies == [] and errors == 2 and "garbage" in first
    assert not server.is_alive()
