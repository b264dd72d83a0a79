"""A cluster of workers for ``--strategy multiworker``: TF_CONFIG, the peers, the chief, the run directory
as each worker sees it. The training loop itself is in ``keras_irdi.training.multiworker``.

- Writing: only the chief (task ``chief``, else ``worker`` 0) writes into the run directory: logs, manifest,
  stages, checkpoints. The others save stages into a temporary folder they delete (saving may read
  distributed variables, so every worker saves), and never touch the manifest (``ClusterRunDir``). The run
  directory must be on a filesystem every worker sees: the others read the stages trained before and the
  chief's checkpoints when they resume.
- Start-up cannot hang: TF_CONFIG is checked first (duplicate addresses, an index outside its job), before any
  port is opened. Then each worker greets every other one in Python (``wait_for_peers``: same cluster, all
  there) for up to ``IRDI_PEER_TIMEOUT`` seconds (default 60), so a 120 s supervisor still sees the one-line
  reason; only then does TensorFlow's start-up run, itself bounded by that timeout (a registration barrier).
  TensorFlow's start-up holds the GIL and takes SIGTERM for itself, so all waiting happens in the greeting,
  where SIGINT and SIGTERM stop the worker at once, saying that nothing was written (``_stop_waiting``).
- Later, a peer that dies makes the collectives fail (TensorFlow's heartbeat, seconds); that ends in one line
  (``PeerError``) too.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time

from keras_irdi.runs.directory import RunDir
from keras_irdi.errors import InputError, UserError


PEER_TIMEOUT_ENV = "IRDI_PEER_TIMEOUT"
DEFAULT_PEER_TIMEOUT = 60.0  # seconds; below a 120 s supervisor's limit with TensorFlow's import on top
# A live peer may lag behind at a collective by the uneven work between two (each worker builds its own input
# stream, the chief writes the logs); a dead one is found by the heartbeat in seconds. So collectives wait
# at least this long, whatever the start-up timeout.
COLLECTIVE_TIMEOUT = 300.0
_TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                      '"task": {"type": "worker", "index": 0}}\'')
_HELLO = "irdi-peer"  # first word of the greeting each worker sends and answers (wait_for_peers)


class PeerError(UserError, ConnectionError):
    """A worker of the cluster cannot be reached, or died during training."""


def peer_timeout() -> float:
    text = os.environ.get(PEER_TIMEOUT_ENV, str(DEFAULT_PEER_TIMEOUT))
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
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
                         "(docs/USAGE.md, 'Several devices'); on one machine pass --strategy default or mirrored")
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


def _task(cfg: dict) -> str:
    return f"{cfg['type']} {cfg['index']}"


def _read_line(sock) -> str:
    data = b""
    while not data.endswith(b"\n") and len(data) < 256:
        chunk = sock.recv(256)
        if not chunk:
            break
        data += chunk
    return data.decode("ascii", "replace")


def _greet(address: str, hello: bytes) -> list[str] | None:
    """The answer of the process at ``address`` to our greeting, as words; None if nothing listens there."""
    try:
        sock = socket.create_connection(_split(address), timeout=2.0)
    except OSError:
        return None
    with sock:
        try:
            sock.sendall(hello)
            return _read_line(sock).split()
        except OSError:
            return []  # something listens, but does not answer as a worker


def wait_for_peers(cfg: dict, timeout: float) -> None:
    """Return once this worker has greeted every other worker of TF_CONFIG and been greeted by each; else
    ``PeerError`` after ``timeout`` s, naming the first one missing.

    A greeting is one line ``irdi-peer DIGEST TASK`` each way, on this worker's own port (a Python listener,
    closed before TensorFlow's server takes the port); DIGEST is the cluster's, so a worker started with
    another TF_CONFIG, or two addresses naming one port, are refused at once (``InputError``). Both directions
    are needed: a worker that has only reached its peers may still be someone's only way to reach it. After
    this, every worker is ready, so TensorFlow's start-up (which holds the GIL) has nothing left to wait for."""
    me, digest = f"{cfg['type']}:{cfg['index']}", _digest(cfg["cluster"])
    peers = {f"{job}:{i}": address for job, addresses in cfg["cluster"].items()
             for i, address in enumerate(addresses) if f"{job}:{i}" != me}
    hello = f"{_HELLO} {digest} {me}\n".encode()
    reached, heard, strangers, mismatched = set(), set(), set(), []
    host, port = _split(cfg["address"])
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("", port))
    except OSError as exc:
        listener.close()
        raise PeerError(f"cannot listen on this worker's address {cfg['address']} from TF_CONFIG "
                        f"({exc.strerror}); is another process using port {port}?") from None
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def answer():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.settimeout(2.0)
                    words = _read_line(conn).split()
                    conn.sendall(hello)
                except OSError:
                    continue
            if words[:2] == [_HELLO, digest] and len(words) == 3 and words[2] in peers:
                heard.add(words[2])
            elif words[:1] == [_HELLO] and len(words) == 3 and words[1] != digest:  # refused on both sides,
                mismatched.append(words[2].replace(":", " "))                      # whichever greets first

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            for task, address in peers.items():
                if task in reached:
                    continue
                words = _greet(address, hello)
                strangers.discard(task)
                if words is None:
                    continue
                if len(words) != 3 or words[0] != _HELLO:
                    strangers.add(task)
                elif words[1] != digest:
                    mismatched.append(f"{task.replace(':', ' ')} at {address}")
                elif words[2] != task:
                    raise InputError(f"TF_CONFIG: {address} answers as {words[2].replace(':', ' ')}, not as "
                                     f"{task.replace(':', ' ')}: two addresses name one port")
                else:
                    reached.add(task)
            if mismatched:
                raise InputError(f"TF_CONFIG: {mismatched[0]} was started with another cluster; give every "
                                 "worker the same 'cluster' (only 'task' differs)")
            if len(reached) == len(peers) and heard >= set(peers):
                return
            if time.monotonic() > deadline:
                raise PeerError(_missing(cfg, peers, reached, heard, strangers, timeout))
            time.sleep(0.2)  # the next round of greetings
    finally:
        stop.set()
        thread.join()
        listener.close()


def _digest(cluster: dict) -> str:
    return hashlib.sha256(json.dumps(cluster, sort_keys=True).encode()).hexdigest()[:16]


def _missing(cfg, peers, reached, heard, strangers, timeout) -> str:
    hint = f"or raise {PEER_TIMEOUT_ENV} (now {timeout:g} s)"
    for task, address in peers.items():
        if task not in reached:
            name = task.replace(":", " ")
            if task in strangers:
                return (f"{_task(cfg)} cannot reach {name} at {address} (TF_CONFIG) within {timeout:g} s: "
                        f"something else answers on that port; check the address, {hint}")
            return (f"{_task(cfg)} cannot reach {name} at {address} (TF_CONFIG) within {timeout:g} s; start "
                    f"every worker of TF_CONFIG, check the addresses and the firewall, {hint}")
    task = next(t for t in peers if t not in heard)
    return (f"{_task(cfg)} reached every worker, but {task.replace(':', ' ')} did not reach it at "
            f"{cfg['address']} within {timeout:g} s; check the firewall of this machine, {hint}")


def _stop_waiting(cfg: dict) -> None:
    """SIGINT or SIGTERM while the cluster forms: nothing was trained or written yet, which main_wrapper's
    message ("resume from the last completed epoch") would not say. Exit 130, as any interrupt."""
    print(f"interrupted while {_task(cfg)} waited for the workers of TF_CONFIG: nothing was trained or "
          "written (the run directory is as it was); rerun the same command on every worker",
          file=sys.stderr, flush=True)
    raise SystemExit(130)


def _bound_start_up(cfg: dict, timeout: float) -> None:
    """Configure TensorFlow's coordination service as the strategy would (same leader, same jobs), plus a
    registration barrier of ``timeout`` s: without it, a worker whose peer greeted it and then died waits in
    TensorFlow's start-up for good (measured). Internal API: no public one sets the barrier."""
    import tensorflow as tf
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

    ctx = context.context()
    if ctx.coordination_service is not None:
        return
    ctx.configure_coordination_service(
        service_type="standalone",
        service_leader=multi_worker_util.coordination_leader(tf.train.ClusterSpec(cfg["cluster"])),
        cluster_register_timeout_in_ms=int(timeout * 1000))
    service = ctx.coordination_service
    for job in ("chief", "worker"):
        if job in cfg["cluster"]:
            service.coordinated_job_list.add(name=job, num_tasks=len(cfg["cluster"][job]))
    service.cluster_register_with_barrier = True


def make_strategy():
    """The MultiWorkerMirroredStrategy of TF_CONFIG, once every worker has greeted every other; TensorFlow's
    start-up and the collectives time out, and SIGINT or SIGTERM during start-up stop the worker."""
    import tensorflow as tf

    cfg = read_tf_config()
    timeout = peer_timeout()
    try:
        wait_for_peers(cfg, timeout)
    except KeyboardInterrupt:  # main_wrapper's handlers raise it for SIGINT and SIGTERM
        _stop_waiting(cfg)
    _bound_start_up(cfg, timeout)
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=max(timeout, COLLECTIVE_TIMEOUT))
    main = threading.current_thread() is threading.main_thread()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    held = []
    if main:  # a KeyboardInterrupt raised inside the strategy's C++ start-up turns into a pybind RuntimeError
        for sig in handlers:
            signal.signal(sig, lambda signum, frame: held.append(signum))
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except tf.errors.OpError as exc:
        failed = exc
    else:
        failed = None
    finally:
        # The start-up also installs TensorFlow's own SIGTERM handler, which swallows the signal (measured: a
        # SIGTERMed worker trained on to the end); put back main_wrapper's, so SIGTERM stops a worker as it
        # stops one process (exit 130), and its peers then stop in one line.
        if main:
            for sig, handler in handlers.items():
                if handler is not None:
                    signal.signal(sig, handler)
    if held:
        _stop_waiting(cfg)
    if failed is not None:
        raise PeerError(f"{_task(cfg)}: every worker of TF_CONFIG answered, but TensorFlow's start-up of the "
                        f"cluster did not complete within {timeout:g} s ({type(failed).__name__}); a worker may "
                        "have stopped: rerun the same command on every worker") from None
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


