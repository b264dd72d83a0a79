"""A cluster of workers for ``--strategy multiworker``: TF_CONFIG, the peers, the chief, the run directory
as each worker sees it. The training loop itself is in ``keras_irdi.training.multiworker``.

- Writing: only the chief (task ``chief``, else ``worker`` 0) writes into the run directory: logs, manifest,
  stages, checkpoints. The others save stages into a temporary folder they delete (saving may read
  distributed variables, so every worker saves), and never touch the manifest (``ClusterRunDir``). The run
  directory must be on a filesystem every worker sees: the others read the stages trained before and the
  chief's checkpoints when they resume.
- Peers: before the strategy starts, each worker waits up to ``IRDI_PEER_TIMEOUT`` seconds (default 300) for
  every address of ``TF_CONFIG`` to accept a connection; TensorFlow's own start-up would wait forever, holding
  the GIL (docs/DECISIONS.md, "Multi-worker training"). Later, a peer that dies makes the collectives fail
  (TensorFlow's health check, seconds); both end in one line (``PeerError``).
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import tempfile
import threading
import time

from keras_irdi.runs.directory import RunDir
from keras_irdi.errors import InputError, UserError


PEER_TIMEOUT_ENV = "IRDI_PEER_TIMEOUT"
_TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                      '"task": {"type": "worker", "index": 0}}\'')


class PeerError(UserError, ConnectionError):
    """A worker of the cluster cannot be reached, or died during training."""


def peer_timeout() -> float:
    text = os.environ.get(PEER_TIMEOUT_ENV, "300")
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise InputError(f"{PEER_TIMEOUT_ENV} must be a number of seconds > 0, got {text!r}")
    return value


def _bad(what: str) -> InputError:
    return InputError(f"TF_CONFIG: {what}; expected e.g. {_TF_CONFIG_EXAMPLE}")


def read_tf_config() -> dict:
    """TF_CONFIG, checked before any port is opened: a cluster of ``host:port`` addresses, each once, and this
    process's task in it. TensorFlow itself takes index -1 as the last worker and a repeated address as two
    workers, then waits forever for the second."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise InputError(f"--strategy multiworker needs TF_CONFIG on every worker, e.g. {_TF_CONFIG_EXAMPLE} "
                         "(README, 'Several devices'); on one machine pass --strategy default or mirrored")
    try:
        cfg = json.loads(text)
        cluster, task = cfg["cluster"], cfg["task"]
        kind, index = task["type"], task["index"]
    except (ValueError, KeyError, TypeError) as exc:
        raise _bad(f"not a cluster with this task in it ({type(exc).__name__}: {exc})") from None
    if not isinstance(cluster, dict) or not cluster:
        raise _bad("'cluster' must map job names to lists of addresses")
    if set(cluster) - {"chief", "worker"}:
        raise InputError(f"TF_CONFIG: multiworker training takes 'chief' and 'worker' tasks, not "
                         f"{sorted(set(cluster) - {'chief', 'worker'})}")
    seen = {}
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses:
            raise _bad(f"cluster[{job!r}] must be a non-empty list of 'host:port' addresses")
        for i, address in enumerate(addresses):
            if not isinstance(address, str) or not _valid_address(address):
                raise _bad(f"cluster[{job!r}][{i}] = {address!r} is not a 'host:port' address")
            key = address.strip().lower()
            if key in seen:
                raise InputError(f"TF_CONFIG: the address {address} is given twice ({seen[key]} and {job} {i}); "
                                 "every worker needs its own host:port")
            seen[key] = f"{job} {i}"
    if len(cluster.get("chief", [None])) != 1:
        raise _bad(f"a cluster has one chief, not {len(cluster['chief'])}")
    if not isinstance(kind, str) or kind not in cluster:
        raise _bad(f"task type {kind!r} is not a job of the cluster ({', '.join(cluster)})")
    n = len(cluster[kind])
    try:
        number = int(str(index).strip()) if isinstance(index, (int, str)) and not isinstance(index, bool) else None
    except ValueError:
        number = None
    if number is None:
        raise _bad(f"task index {index!r} is not a whole number")
    if not 0 <= number < n:
        raise _bad(f"task index {number} is out of range: the cluster has {n} {kind!r} "
                   f"address{'es' if n > 1 else ''} (index 0 to {n - 1})")
    index = number
    return {"cluster": cluster, "type": kind, "index": index, "address": cluster[kind][index]}


def _valid_address(address: str) -> bool:
    host, sep, port = address.strip().rpartition(":")
    return bool(sep and host.strip("[]") and port.isdigit() and 0 < int(port) < 65536)


def free_local_ports(n: int) -> list[int]:
    """``n`` free TCP ports on 127.0.0.1, for a cluster of local workers (tests, benchmarks, a first try)."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.strip().rpartition(":")
    return host.strip("[]"), int(port)


def wait_for_peers(cfg: dict, timeout: float) -> None:
    """Return once every other address of the cluster accepts a TCP connection; ``PeerError`` after
    ``timeout`` s. Meanwhile this worker's own port answers the others (a Python listener, closed before
    TensorFlow's server takes the port), so workers started in any order find each other."""
    peers = [a for job in cfg["cluster"].values() for a in job if a != cfg["address"]]
    host, port = _split(cfg["address"])
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("", port))
    except OSError as exc:
        raise PeerError(f"cannot listen on this worker's address {cfg['address']} from TF_CONFIG "
                        f"({exc.strerror}); is another process using port {port}?") from None
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def answer():
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                conn.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        for peer in peers:
            while True:
                try:
                    socket.create_connection(_split(peer), timeout=1.0).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise PeerError(
                            f"{cfg['type']} {cfg['index']} cannot reach {peer} (TF_CONFIG) within "
                            f"{timeout:.0f} s; start every worker of TF_CONFIG, check the addresses and the "
                            f"firewall, or raise {PEER_TIMEOUT_ENV}") from None
                    time.sleep(0.2)
    finally:
        stop.set()
        thread.join()
        listener.close()


def make_strategy():
    """The MultiWorkerMirroredStrategy of TF_CONFIG, once every peer answers; collectives time out."""
    import tensorflow as tf

    cfg = read_tf_config()
    timeout = peer_timeout()
    wait_for_peers(cfg, timeout)
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    # The strategy's start-up installs its own SIGTERM handler, which swallows the signal (measured: a
    # SIGTERMed worker trained on to the end); put back main_wrapper's, so SIGTERM stops a worker as it
    # stops one process (exit 130), and its peers then stop in one line.
    if threading.current_thread() is threading.main_thread():
        for sig, handler in handlers.items():
            if handler is not None:
                signal.signal(sig, handler)
    return strategy


def is_chief(strategy) -> bool:
    resolver = strategy.cluster_resolver
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().jobs


def barrier(strategy) -> None:
    """Every worker waits here until all have arrived (a one-number all-reduce)."""
    import tensorflow as tf

    with _peer_errors():
        strategy.reduce(tf.distribute.ReduceOp.SUM,
                        strategy.run(lambda: tf.ones([], tf.float32)), axis=None).numpy()


@contextlib.contextmanager
def _peer_errors():
    import tensorflow as tf

    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError) as exc:
        raise PeerError(f"a worker of the cluster stopped answering ({type(exc).__name__}); rerun every worker "
                        "with the same command to resume from the last finished epoch") from None


class ClusterRunDir(RunDir):
    """The run directory as one worker of a cluster sees it: the chief writes, the others only read.

    A non-chief worker saves stages into a temporary folder it deletes, and leaves the manifest alone (a
    second writer would drop the chief's updates: read, modify, write). After a stage is saved, every worker
    waits for the others, so none reads a stage the chief is still writing."""

    def __init__(self, path, strategy):
        super().__init__(path)
        self.strategy, self.chief = strategy, is_chief(strategy)

    def ensure_writable(self) -> None:
        if self.chief:  # a probe from every worker would race on one file name
            super().ensure_writable()

    def update_manifest(self, **fields) -> dict:
        if self.chief:
            return super().update_manifest(**fields)
        return self.manifest()

    def save_stage(self, stage, model, config, export: bool = True, extra_json: dict | None = None):
        if self.chief:
            final = super().save_stage(stage, model, config, export=export, extra_json=extra_json)
        else:
            with tempfile.TemporaryDirectory(prefix=f"irdi_{stage}_") as tmp:
                RunDir(tmp).save_stage(stage, model, config, export=export, extra_json=extra_json)
            final = self.stage_dir(stage)
        barrier(self.strategy)
        return final


