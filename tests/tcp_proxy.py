"""A small TCP proxy for fault tests (toxiproxy's idea, in Python): put it between the
server and PostgreSQL or Redis, then cut the link and let it through again without
touching the service itself (the machine's PostgreSQL and Redis are shared: never stop
them).

    with TcpProxy("127.0.0.1", 5432) as pg:     # listens on 127.0.0.1:<free port>
        url = f"postgresql://postgres@127.0.0.1:{pg.port}/test"
        pg.cut()        # every open connection reset, new ones refused
        pg.restore()    # new connections go through again

`cut()` resets every connection (RST, as a host that died or a restarted server) and
closes the listening socket, so a connect is refused at once (ECONNREFUSED), as when the
service is down. `restore()` listens again on the same port. `blackhole()` keeps the
connections open and accepts new ones but forwards nothing, both ways (a network that
swallows packets: only timeouts notice). Counters say what went through.
"""
from __future__ import annotations

import select
import socket
import struct
import threading
import time


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host, self.port = host, port
        self.accepted = 0                   # connections accepted, all told
        self.state = "stopped"              # up | cut | blackhole | stopped
        self._lock = threading.Lock()
        self._links: set[tuple[socket.socket, socket.socket]] = set()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self.cut_at: float | None = None
        self.restored_at: float | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> TcpProxy:
        self._listen()
        return self

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        with self._lock:
            self.state = "stopped"
        self._close_listener()
        self._reset_all()

    # -- faults --------------------------------------------------------------------------
    def cut(self) -> None:
        """The service is gone: open connections reset, new ones refused."""
        with self._lock:
            self.state = "cut"
            self.cut_at = time.monotonic()
        self._close_listener()
        self._reset_all()

    def blackhole(self) -> None:
        """Nothing goes through either way; connections stay open (timeouts only)."""
        with self._lock:
            self.state = "blackhole"
            self.cut_at = time.monotonic()

    def restore(self) -> None:
        """Traffic goes through again (new connections; those cut stay cut)."""
        with self._lock:
            was = self.state
            self.state = "up"
            self.restored_at = time.monotonic()
        if was in ("cut", "stopped"):
            self._listen()
        elif was == "blackhole":
            self._reset_all()     # what was swallowed is gone: those sessions are broken

    @property
    def open_links(self) -> int:
        with self._lock:
            return len(self._links)

    # -- plumbing ------------------------------------------------------------------------
    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                listener.bind((self.host, self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        listener.listen(512)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
            if self.state == "stopped":
                self.state = "up"
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True,
                                          name=f"tcp-proxy-{self.port}")
        self._acceptor.start()

    def _close_listener(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
            self._acceptor = None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return                    # the listener was closed (cut or stop)
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                if self.state not in ("up", "blackhole"):
                    _reset(client)
                    _reset(upstream)
                    continue
                self.accepted += 1
                link = (client, upstream)
                self._links.add(link)
            threading.Thread(target=self._pump, args=(link,), daemon=True).start()

    def _pump(self, link: tuple[socket.socket, socket.socket]) -> None:
        client, upstream = link
        peer = {client: upstream, upstream: client}
        try:
            while True:
                with self._lock:
                    if link not in self._links:
                        return
                    passing = self.state == "up"
                ready, _, _ = select.select([client, upstream], [], [], 0.1)
                if not passing:
                    continue              # blackhole: leave the bytes where they are
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peer[sock].sendall(data)
        except (OSError, ValueError):      # reset under us (a cut): the link is over
            return
        finally:
            with self._lock:
                self._links.discard(link)
            _reset(client)
            _reset(upstream)

    def _reset_all(self) -> None:
        with self._lock:
            links, self._links = list(self._links), set()
        for client, upstream in links:
            _reset(client)
            _reset(upstream)


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): the peer sees 'connection reset', as from a host or
    service that died, not a polite FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
