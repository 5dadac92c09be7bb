"""A TCP proxy the fault tests put between the app (or a worker) and a real server, to cut it off at will.

The shared Redis and PostgreSQL are never stopped: ``down()`` makes the proxy
refuse new connections and drop the open ones, which is what a client sees of
a server that went away; ``up()`` lets clients back in. ``blackhole()`` is a
dead network path instead: new connections are accepted and never answered, and
open ones carry nothing until ``up()`` lets their bytes flow again.
"""

from __future__ import annotations

import socket
import threading


class FaultProxy:
    """Forward 127.0.0.1:``port`` to ``target`` (``(host, port)`` or a Unix socket path) until told not to."""

    def __init__(self, target: tuple[str, int] | str) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.connections = 0  # accepted while up, for tests that check a client really went through
        self._flowing = threading.Event()
        self._flowing.set()
        self._held: list[socket.socket] = []  # accepted while blackholed: never answered

    def __enter__(self) -> FaultProxy:
        self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    def blackhole(self) -> None:
        """Accept and never answer; open connections stall (their bytes are held, not dropped)."""
        self._flowing.clear()

    def up(self) -> None:
        """Listen (on the same port as before, if it was up before); after a blackhole, let bytes flow again."""
        if self._listener is not None:  # blackholed, not down
            with self._lock:
                held, self._held = self._held, []
            for sock in held:  # their clients gave up on them long ago
                sock.close()
            self._flowing.set()
            return
        self._flowing.set()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Refuse new connections and cut every open one."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        self._flowing.set()
        with self._lock:
            sockets, self._open = self._open | set(self._held), set()
            self._held = []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _connect(self) -> socket.socket:
        if isinstance(self.target, str):
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        upstream.connect(self.target)
        return upstream

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by down()
            if self._listener is not listener:
                client.close()
                return
            if not self._flowing.is_set():
                with self._lock:
                    self._held.append(client)
                continue
            try:
                upstream = self._connect()
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, upstream}
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            with self._lock:
                self._open -= {source, sink}
