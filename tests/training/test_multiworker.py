"""--strategy multiworker: two worker processes on 127.0.0.1 (MultiWorkerMirroredStrategy, the custom loop of
keras_irdi/training/multiworker.py) against one process training the same stages with Keras fit.

Every worker process is started with its own TF_CONFIG on free ports and killed by pid when a deadline
passes, so a hang fails the test instead of stalling the suite."""
import contextlib
import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from keras_irdi.runs.cluster import free_local_ports
from keras_irdi.runs.directory import RunDir
from helpers import REPO, paused_env, wait_for_pause

# One process of the cluster (or the single-process reference, strategy "default"): trains the given stages
# of a tiny smoke run and writes each stage's final weights as this process holds them (the non-chief
# worker saves no stage) into OUT/<stage>.<task>.npz.
SCRIPT = """
import sys
import numpy as np
from keras_irdi.errors import main_wrapper

def main(argv):
    run_dir, strategy, stages, out, task = argv
    from keras_irdi.tfenv import load_tensorflow
    load_tensorflow()
    from keras_irdi.training import stages as training
    from keras_irdi.data.cifar import BUNDLED_CIFAR10
    from keras_irdi.presets import get_preset
    from keras_irdi.runs.config import RunConfig, open_run
    from keras_irdi.stage_registry import get_stage

    fit = training.fit_stage
    def keep(run, stage, model, *a, **k):
        result = fit(run, stage, model, *a, **k)
        np.savez(f"{out}/{stage}.{task}.npz", *model.get_weights())
        return result
    training.fit_stage = keep
    preset = get_preset("smoke")
    preset.patches.source, preset.data.train_limit, preset.finetune = "cifar", 200, None
    preset.restoration.train.steps_per_epoch, preset.restoration.train.epochs = 12, 3
    preset.classifier.train.epochs = 1  # 180 images in batches of 32: a short last batch
    config = RunConfig(degradation="jpeg", preset=preset)
    run, config = open_run(run_dir, config, data_dir=str(BUNDLED_CIFAR10), strategy=strategy)
    for stage in stages.split(","):
        get_stage(stage).train_function()(run, config, stage)

sys.exit(main_wrapper(main, sys.argv[1:]))
"""
DEADLINE = 600  # seconds for one launch, start-up included; the machine is shared (TensorFlow alone took 90 s to
# import at nice 19 beside a training job), so generous: this only turns a hang into a failure




def _cluster_env(ports, index, timeout=60):
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    return {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            "IRDI_PEER_TIMEOUT": str(timeout), "TF_CPP_MIN_LOG_LEVEL": "3"}


def _start(tmp, name, run_dir, strategy, stages, env=None):
    out, err = open(tmp / f"{name}.out", "w"), open(tmp / f"{name}.err", "w")
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(run_dir), strategy, stages, str(tmp), name],
                            stdout=out, stderr=err, cwd=REPO, env=env)


def _launch_workers(tmp, run_dir, stages, names=("w0", "w1"), extra_env=None):
    """Two workers; ``extra_env`` maps a worker's index to variables only it gets."""
    ports = free_local_ports(2)
    return [_start(tmp, name, run_dir, "multiworker", stages,
                   {**_cluster_env(ports, i), **(extra_env or {}).get(i, {})}) for i, name in enumerate(names)]


def _finish(procs, tmp, names, deadline=DEADLINE):
    """Wait for every process; kill them all (by pid) past the deadline. Returns their exit codes."""
    end = time.time() + deadline
    try:
        for proc in procs:
            proc.wait(timeout=max(1, end - time.time()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
    codes = [proc.returncode for proc in procs]
    logs = {n: (tmp / f"{n}.err").read_text()[-1500:] for n in names}
    return codes, logs


def _weights(path):
    data = np.load(path)
    return [data[f"arr_{i}"] for i in range(len(data.files))]


STAGES = "restoration,cla_org"
# How far the two workers may end from one process with Keras fit: the same sums in another order. Cla(org)
# (no dropout; L2 weight decay; 180 images, so a short last batch) stays within 1e-6. The restoration net does
# not: Adamax steps a weight by about lr * g / max|g|, so where a gradient is near 0 (its last layer starts at
# zero) float rounding decides a whole step; measured 7.8e-8 after 12 steps, 4e-4 after these 36.
TOLERANCE = {"cla_org": 1e-6, "restoration": 1e-3}


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """Two workers and one process with Keras fit, launched together: the restoration net (PIL JPEG in the
    pipeline, 3 epochs) and Cla(org) from scratch (L2 weight decay, an epoch ending on a short batch)."""
    tmp = tmp_path_factory.mktemp("straight")
    started = time.time()
    procs = _launch_workers(tmp, tmp / "run", STAGES) + [_start(tmp, "single", tmp / "single", "default", STAGES)]
    codes, logs = _finish(procs, tmp, ["w0", "w1", "single"])
    assert codes == [0, 0, 0], logs
    return tmp, time.time() - started


@pytest.mark.slow
def test_two_workers_end_identical_and_at_the_single_process_weights(straight):
    tmp, seconds = straight
    run, single = RunDir(tmp / "run"), RunDir(tmp / "single")
    for stage in STAGES.split(","):
        w0, w1 = _weights(tmp / f"{stage}.w0.npz"), _weights(tmp / f"{stage}.w1.npz")
        for a, b in zip(w0, w1, strict=True):
            np.testing.assert_array_equal(a, b)  # both workers hold bit-identical weights
        saved = run.load_stage(stage).get_weights()  # the chief's saved stage is what it trained
        for a, b in zip(w0, saved, strict=True):
            np.testing.assert_array_equal(a, b)
        reference = single.load_stage(stage).get_weights()  # Keras fit, one process
        for a, b in zip(w0, reference, strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=TOLERANCE[stage])
        assert max(float(np.abs(w).max()) for w in w0[-2:]) > 0  # trained: the last layer moved
        # The chief's logs have fit's columns and values; the manifest has the stage.
        rows = list(csv.DictReader(open(run.log_dir() / f"{stage}.csv")))
        ref_rows = list(csv.DictReader(open(single.log_dir() / f"{stage}.csv")))
        assert [list(r) for r in rows] == [list(r) for r in ref_rows]
        for r, q in zip(rows, ref_rows, strict=True):
            for k in r:
                assert float(r[k]) == pytest.approx(float(q[k]), rel=1e-5, abs=1e-6), (stage, k)
        assert (run.log_dir() / "tb" / stage / "train").is_dir()
        assert (run.log_dir() / "tb" / stage / "validation").is_dir()
        assert set(run.manifest()["stages"][stage]["metrics"]) == set(single.manifest()["stages"][stage]["metrics"])
        assert not run.backup_dir(stage).exists()
    assert run.manifest()["config"]["runtime"]["strategy"] == "multiworker"
    print(f"two workers + one process: {seconds:.0f} s, load average {os.getloadavg()[0]:.1f}")


def _rows(path):
    if not path.exists():
        return 0
    return sum(1 for r in csv.DictReader(open(path)) if r.get("epoch", "").strip())


@pytest.mark.slow
@pytest.mark.parametrize("victim,sig", [(1, signal.SIGKILL), (0, signal.SIGTERM)],
                         ids=["sigkill_worker1", "sigterm_chief"])
def test_a_stopped_cluster_resumes_bit_identical(straight, tmp_path, victim, sig):
    """One worker is stopped in the second epoch (SIGKILL, or SIGTERM: exit 130 with the resume hint, as one
    process); the other stops by itself in one line, without hanging. Relaunched, both resume from the chief's
    checkpoint and end where an uninterrupted run ends.

    Only the victim runs with the test-only pause hook (helpers.paused_env): it stops once batch 3 of epoch 2
    is done and writes a marker; its peer waits for it in the next batch's all-reduce. The signal is sent
    then, so it always lands in epoch 2, after epoch 1's checkpoint and log row."""
    reference, _ = straight
    run_dir = tmp_path / "run"
    marker = tmp_path / "paused"
    procs = _launch_workers(tmp_path, run_dir, "restoration", extra_env={victim: paused_env(marker)})
    log = run_dir / "logs" / "restoration.csv"
    try:
        wait_for_pause(marker, procs, [tmp_path / "w0.err", tmp_path / "w1.err"], timeout=DEADLINE)
        assert _rows(log) == 1  # the chief logged epoch 1 before either could start epoch 2
    except AssertionError:
        _finish(procs, tmp_path, ["w0", "w1"], deadline=0)  # kills both by pid
        raise
    os.kill(procs[victim].pid, sig)
    started = time.time()
    codes, logs = _finish(procs, tmp_path, ["w0", "w1"], deadline=120)
    waited = time.time() - started
    survivor = logs[f"w{1 - victim}"].strip().splitlines()
    assert codes[1 - victim] == 2, logs
    assert survivor[-1].startswith("error: a worker of the cluster stopped answering"), survivor[-3:]
    assert "Traceback" not in logs[f"w{1 - victim}"]
    if sig == signal.SIGTERM:
        assert codes[victim] == 130 and logs[f"w{victim}"].strip().splitlines()[-1].startswith("interrupted: rerun")
    run = RunDir(run_dir)
    assert not run.has_stage("restoration") and run.backup_dir("restoration").exists()

    procs = _launch_workers(tmp_path, run_dir, "restoration", names=("r0", "r1"))
    codes, logs = _finish(procs, tmp_path, ["r0", "r1"])
    assert codes == [0, 0], logs
    for name in ("r0", "r1"):
        assert "[restoration] resuming from epoch 2" in (tmp_path / f"{name}.out").read_text()
    epochs = [int(r["epoch"]) for r in csv.DictReader(open(log))]
    assert epochs == [0, 1, 2], epochs  # epoch 0 kept from the stopped attempt, none twice
    resumed = run.load_stage("restoration").get_weights()
    for a, b in zip(resumed, RunDir(reference / "run").load_stage("restoration").get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    print(f"the other worker stopped {waited:.0f} s after its peer was")


# -- start-up: a cluster cannot hang a run (issue 38) ------------------------------------------------------
def _all_py(tmp_path, env):
    """``train/all.py --preset smoke --strategy multiworker``, as the issue ran it; stderr to a file."""
    err = open(tmp_path / "all.err", "w")
    return subprocess.Popen([sys.executable, str(REPO / "train/all.py"), "--preset", "smoke", "--run-dir",
                             str(tmp_path / "r"), "--strategy", "multiworker"], stdout=subprocess.DEVNULL,
                            stderr=err, cwd=REPO, env=env)


def _wait_until_listening(port, proc, timeout=DEADLINE):
    """Wait until the worker's own port answers (it is greeting its peers) and return that moment; fail if the
    process ends first. A bare connection, closed at once, is not a greeting: the worker ignores it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return time.monotonic()
        except OSError:
            time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise AssertionError(f"the worker never listened on {port} (exit {proc.returncode})")


def _stderr_lines(tmp_path):
    return (tmp_path / "all.err").read_text().strip().splitlines()


@contextlib.contextmanager
def _killed_if_left(proc):
    """``proc``, killed and reaped on the way out if it is still running (a failed wait must not leave it)."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _said_at(tmp_path, proc, timeout=DEADLINE):
    """The moment the worker's stderr has its first full line. Measured apart from the exit, which then
    takes the interpreter's teardown of TensorFlow: 0.5 s with os._exit, 10-16 s by a normal exit at nice 19
    beside a training job, outside what the worker controls."""
    deadline = time.monotonic() + timeout
    while "\n" not in (tmp_path / "all.err").read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the worker said nothing (exit {proc.returncode}): {_stderr_lines(tmp_path)}")
        time.sleep(0.02)
    return time.monotonic()


@pytest.mark.slow
def test_a_repeated_address_is_refused_before_any_port_is_opened(tmp_path):
    """The issue's TF_CONFIG (one address twice): TensorFlow took it as two workers and waited forever. The
    test listens on that port itself, so a worker that tried to open it would fail otherwise."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    address = f"127.0.0.1:{held.getsockname()[1]}"
    env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": {"worker": [address, address]},
                                                  "task": {"type": "worker", "index": 0}})}
    try:
        proc = _all_py(tmp_path, env)
        proc.wait(timeout=DEADLINE)
    finally:
        held.close()
    assert proc.returncode == 2
    assert _stderr_lines(tmp_path) == [f"error: TF_CONFIG: the address {address} is given twice (worker 0 and "
                                       "worker 1); every worker needs its own host:port"]
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_a_worker_without_its_peer_fails_in_one_line_within_the_timeout(tmp_path):
    """The peer of TF_CONFIG never starts: the worker gives up IRDI_PEER_TIMEOUT seconds after it began to
    wait, in one line stating the timeout, before creating the run directory."""
    ports = free_local_ports(2)
    with _killed_if_left(_all_py(tmp_path, _cluster_env(ports, 0, timeout=10))) as proc:
        waiting = _wait_until_listening(ports[0], proc)
        waited = _said_at(tmp_path, proc) - waiting
        proc.wait(timeout=DEADLINE)
    assert proc.returncode == 2, _stderr_lines(tmp_path)
    assert _stderr_lines(tmp_path) == [
        f"error: worker 0 cannot reach worker 1 at 127.0.0.1:{ports[1]} (TF_CONFIG) within 10 s; start every "
        "worker of TF_CONFIG, check the addresses and the firewall, or raise IRDI_PEER_TIMEOUT (now 10 s)"]
    assert 9.5 < waited < 10 + 5, waited
    print(f"the one line {waited:.1f} s after the worker began to wait")
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_waiting_worker_stops_at_once_on_a_signal_saying_nothing_was_written(tmp_path, sig):
    """SIGTERM or SIGINT while a worker waits for its peers (the issue: both ignored, only SIGKILL ended it):
    exit 130 within seconds, one line saying nothing was trained or written (no 'last completed epoch')."""
    ports = free_local_ports(2)
    with _killed_if_left(_all_py(tmp_path, _cluster_env(ports, 0, timeout=600))) as proc:
        _wait_until_listening(ports[0], proc)
        sent = time.monotonic()
        os.kill(proc.pid, sig)
        said = _said_at(tmp_path, proc) - sent
        proc.wait(timeout=60)
        ended = time.monotonic() - sent
    assert proc.returncode == 130, _stderr_lines(tmp_path)
    assert _stderr_lines(tmp_path) == [
        "interrupted while worker 0 waited for the workers of TF_CONFIG: nothing was trained or written (the run "
        "directory is as it was); rerun the same command on every worker"]
    assert said < 3, said
    assert ended < 60, ended  # the teardown of TensorFlow (_said_at)
    print(f"message {said:.2f} s after the signal, exit {ended:.1f} s after")
    assert not (tmp_path / "r").exists()


# A peer that greets (keras_irdi.runs.cluster.wait_for_peers) and then never starts TensorFlow: what a worker
# that dies or hangs right after the greeting looks like to the others. Prints "greeted", then waits for its
# stdin to close.
GREET_ONLY = """
import sys
from keras_irdi.runs.cluster import read_tf_config, wait_for_peers
wait_for_peers(read_tf_config(), 600)
print("greeted", flush=True)
sys.stdin.read()
"""


@pytest.mark.slow
def test_a_peer_that_greets_then_never_starts_tensorflow_cannot_hang_the_other(tmp_path):
    """Past the greeting, TensorFlow's own start-up waits for every worker to register; bounded by
    IRDI_PEER_TIMEOUT (a registration barrier), it ends in one line instead of waiting for good."""
    ports = free_local_ports(2)
    peer = subprocess.Popen([sys.executable, "-c", GREET_ONLY], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, cwd=REPO, env=_cluster_env(ports, 1, timeout=600), text=True)
    proc = _all_py(tmp_path, _cluster_env(ports, 0, timeout=10))
    try:
        assert peer.stdout.readline().strip() == "greeted"  # the worker is now in TensorFlow's start-up
        greeted = time.monotonic()
        waited = _said_at(tmp_path, proc) - greeted
        proc.wait(timeout=DEADLINE)
    finally:
        for p in (proc, peer):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert proc.returncode == 2, _stderr_lines(tmp_path)
    assert _stderr_lines(tmp_path) == [
        "error: worker 0: every worker of TF_CONFIG answered, but TensorFlow's start-up of the cluster did not "
        "complete within 10 s (DeadlineExceededError); a worker may have stopped: rerun the same command on "
        "every worker"]
    assert waited < 10 + 10, waited  # the barrier's 10 s, plus TensorFlow's start-up and error path
    print(f"the one line {waited:.1f} s after the greeting")
    assert not (tmp_path / "r").exists()


def _greet_in_threads(cfgs, timeout):
    """Run wait_for_peers for each config in its own thread; each one's exception (None: greeted)."""
    from keras_irdi.runs.cluster import wait_for_peers

    results = [None] * len(cfgs)

    def run(i):
        try:
            wait_for_peers(cfgs[i], timeout)
        except Exception as exc:  # noqa: BLE001 -- returned to the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(cfgs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _cfg(cluster, kind, index):
    return {"cluster": cluster, "type": kind, "index": index, "address": cluster[kind][index]}


@pytest.mark.slow
def test_the_greeting_checks_that_every_worker_has_the_same_cluster():
    """In process, no TensorFlow server: workers of one cluster greet each other; a worker started with
    another cluster, or two addresses naming one port, are refused at once; a port where something else
    answers ends in one line at the timeout."""
    from keras_irdi.errors import InputError
    from keras_irdi.runs.cluster import PeerError

    ports = free_local_ports(3)
    cluster = {"chief": [f"127.0.0.1:{ports[0]}"], "worker": [f"127.0.0.1:{ports[1]}"]}
    assert _greet_in_threads([_cfg(cluster, "chief", 0), _cfg(cluster, "worker", 0)], 30) == [None, None]

    bigger = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    smaller = {"worker": bigger["worker"][:2]}
    refused = re.compile(r"TF_CONFIG: worker [01]( at 127\.0\.0\.1:\d+)? was started with another cluster; "
                         r"give every worker the same 'cluster' \(only 'task' differs\)")
    for _ in range(5):  # both refuse, whichever greets first
        started = time.monotonic()
        errors = _greet_in_threads([_cfg(smaller, "worker", 0), _cfg(bigger, "worker", 1)], 30)
        assert all(isinstance(e, InputError) and refused.fullmatch(str(e)) for e in errors), errors
        assert time.monotonic() - started < 10

    same_port = {"worker": [f"127.0.0.1:{ports[0]}", f"localhost:{ports[0]}"]}
    [error] = _greet_in_threads([_cfg(same_port, "worker", 0)], 30)
    assert isinstance(error, InputError) and str(error) == (
        f"TF_CONFIG: localhost:{ports[0]} answers as worker 0, not as worker 1: two addresses name one port")

    other = socket.socket()  # a listener that never answers a greeting
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    other.bind(("127.0.0.1", ports[2]))
    other.listen(4)
    try:
        started = time.monotonic()
        [error] = _greet_in_threads([_cfg(bigger, "worker", 1)], 3)
    finally:
        other.close()
    assert isinstance(error, PeerError) and str(error).startswith(
        f"worker 1 cannot reach worker 0 at 127.0.0.1:{ports[0]} (TF_CONFIG) within 3 s"), error
    assert time.monotonic() - started < 3 + 10


@pytest.mark.slow
def test_multiworker_without_tf_config_fails_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    proc = subprocess.run([sys.executable, str(REPO / "train/restoration.py"), "--preset", "smoke",
                           "--run-dir", str(tmp_path / "r"), "--strategy", "multiworker"],
                          capture_output=True, text=True, cwd=REPO, timeout=300, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --strategy multiworker needs TF_CONFIG on every worker")
    assert not (tmp_path / "r").exists()


# -- the pieces, in process ----------------------------------------------------------------------------
def test_each_replica_gets_its_rows_of_every_global_batch_with_the_global_size():
    import tensorflow as tf

    from keras_irdi.training.multiworker import _replica_slices

    x = np.arange(13, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, np.arange(13))).batch(5)  # 5, 5, 3: a short last batch
    seen = []
    for worker in range(2):  # two workers, one replica each
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=worker, num_replicas_in_sync=2)
        seen.append([(y.numpy().tolist(), float(b)) for _, y, b in _replica_slices(ds, ctx)])
    assert seen[0] == [([0, 1], 5.0), ([5, 6], 5.0), ([10], 3.0)]
    assert seen[1] == [([2, 3, 4], 5.0), ([7, 8, 9], 5.0), ([11, 12], 3.0)]
    ctx = tf.distribute.InputContext(num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=2)
    local = [y.numpy().tolist() for _, y, _ in _replica_slices(ds, ctx)]  # one worker, two replicas
    assert local == [[0, 1], [2, 3, 4], [5, 6], [7, 8, 9], [10], [11, 12]]


@pytest.mark.parametrize("loss", ["mse", "sparse_categorical_crossentropy", "psnr"])
def test_per_example_losses_average_to_the_keras_loss(loss):
    """The loop's loss: each example's, summed and divided by the global batch; their mean must be what
    Keras' compiled loss computes for the batch (images: a mean over pixels too)."""
    import keras

    from keras_irdi.models import PSNRLoss
    from keras_irdi.training.multiworker import _loss_fn

    rng = np.random.default_rng(0)
    if loss == "sparse_categorical_crossentropy":
        y, pred = rng.integers(0, 4, 6), rng.dirichlet(np.ones(4), 6).astype(np.float32)
    else:
        y, pred = (rng.random((6, 8, 8, 3)).astype(np.float32) for _ in range(2))
    keras_loss = PSNRLoss(30.0) if loss == "psnr" else keras.losses.get(
        {"mse": "MeanSquaredError", "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy"}[loss])
    per_example = np.asarray(_loss_fn(PSNRLoss(30.0) if loss == "psnr" else loss)(y, pred))
    assert per_example.shape == (6,)
    assert float(per_example.mean()) == pytest.approx(float(keras_loss(y, pred)), rel=1e-6)


def test_tf_config_errors_are_one_line(monkeypatch):
    """Every TF_CONFIG TensorFlow would take and then wait on forever (an address twice, index -1 as the last
    worker) is refused in one line, before any port is opened."""
    from keras_irdi.runs.cluster import read_tf_config
    from keras_irdi.errors import InputError

    def refused(cluster, task, match):
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
        with pytest.raises(InputError, match=match) as info:
            read_tf_config()
        assert "\n" not in str(info.value)

    two = {"worker": ["a:1", "b:2"]}
    refused({"worker": ["a:1"]}, {"type": "worker", "index": 3},
            r"task index 3 is out of range: the cluster has 1 'worker' address \(index 0 to 0\)")
    refused(two, {"type": "worker", "index": -1},
            r"task index -1 is out of range: the cluster has 2 'worker' addresses \(index 0 to 1\)")
    refused(two, {"type": "worker", "index": 1.5}, "task index 1.5 is not a whole number")
    refused({"worker": ["127.0.0.1:23456", "127.0.0.1:23456"]}, {"type": "worker", "index": 0},
            r"^TF_CONFIG: the address 127.0.0.1:23456 is given twice \(worker 0 and worker 1\); every worker "
            "needs its own host:port$")
    refused({"chief": ["a:1"], "worker": ["A:1"]}, {"type": "worker", "index": 0},
            r"given twice \(chief 0 and worker 0\)")
    refused({"worker": ["a:1", "b"]}, {"type": "worker", "index": 0},
            r"cluster\['worker'\]\[1\] = 'b' is not a 'host:port'")
    refused({"worker": ["a:1", "b:70000"]}, {"type": "worker", "index": 0}, "is not a 'host:port'")
    refused({"chief": ["a:1", "b:2"]}, {"type": "chief", "index": 0}, "a cluster has one chief, not 2")
    refused(two, {"type": "chief", "index": 0}, "task type 'chief' is not a job of the cluster")
    refused({"ps": ["a:1"], "worker": ["b:2"]}, {"type": "worker", "index": 0}, "takes 'chief' and 'worker' tasks")
    monkeypatch.setenv("TF_CONFIG", "{")
    with pytest.raises(InputError, match="TF_CONFIG: not a cluster with this task in it"):
        read_tf_config()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": two, "task": {"type": "worker", "index": "1"}}))
    assert read_tf_config()["address"] == "b:2"


# A one-worker cluster fitting a one-layer stage "tiny" through fit_stage (the loop), for 4 epochs; with
# STOP, Ctrl-C at the end of that epoch (its checkpoint written). Prints the epochs its CSV log lists.
TINY = """
import csv, sys
import numpy as np
from keras_irdi.errors import main_wrapper

def main(argv):
    run_dir, stop = argv[0], int(argv[1])
    from keras_irdi.tfenv import load_tensorflow
    tf = load_tensorflow()
    import keras
    from keras_irdi.training.fitting import fit_stage
    from keras_irdi.preset_sections import StageConfig
    from keras_irdi.runs.config import RunConfig, RuntimeConfig, get_strategy
    from keras_irdi.runs.cluster import ClusterRunDir

    strategy = get_strategy("multiworker")
    run = ClusterRunDir(run_dir, strategy)

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == stop:
                raise KeyboardInterrupt

    x = np.random.default_rng(0).random((64, 3)).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, np.arange(64) % 2)).batch(16)
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="tiny")
    fit_stage(run, "tiny", model, lambda e: ds.repeat(e[1] - e[0]), ds, StageConfig(epochs=4, batch_size=16),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), extra_callbacks=[Stop()])
    print("epochs", [int(r["epoch"]) for r in csv.DictReader(open(run.log_dir() / "tiny.csv"))])

sys.exit(main_wrapper(main, sys.argv[1:]))
"""


def _tiny(tmp_path, stop):
    env = _cluster_env(free_local_ports(1), 0)
    proc = subprocess.run([sys.executable, "-c", TINY, str(tmp_path / "run"), str(stop)], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=DEADLINE)
    return proc


@pytest.mark.slow
@pytest.mark.parametrize("cut,expected", [("latest", [0, 1, 1, 2, 3]), ("all", [0, 1, 0, 1, 2, 3])])
def test_a_cut_checkpoint_falls_back_to_the_previous_or_restarts(tmp_path, cut, expected):
    """As with fit's backups: a cut latest checkpoint costs one more epoch (the previous one is kept), none
    readable restarts the stage with a warning, never fails it forever."""
    proc = _tiny(tmp_path, stop=1)
    assert proc.returncode == 130, proc.stderr[-2000:]
    backup = tmp_path / "run" / "backup" / "tiny"
    for f in sorted(backup.glob("ckpt-*.data-*")):
        if cut == "all" or f.name.startswith("ckpt-2."):
            f.write_bytes(f.read_bytes()[:10])  # what a kill in the middle of a save leaves
    proc = _tiny(tmp_path, stop=-1)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"epochs {expected}" in proc.stdout
    assert "is unreadable" in proc.stderr
    assert ("restarting this stage from epoch 0" in proc.stderr) == (cut == "all")


@pytest.mark.slow
def test_a_stage_interrupted_under_one_loop_is_not_restarted_silently_by_the_other(tmp_path):
    """fit keeps Keras backups, the multi-worker loop tf.train checkpoints: neither reads the other's, so a
    relaunch under the other strategy stops in one line naming the strategy to resume with (it would
    otherwise start the stage over with its interrupted epochs still in the log)."""
    import keras
    import tensorflow as tf

    from keras_irdi.errors import InputError
    from keras_irdi.preset_sections import StageConfig
    from keras_irdi.training.fitting import fit_stage
    from helpers import tiny_model

    proc = _tiny(tmp_path, stop=1)  # multi-worker checkpoints after epochs 0 and 1
    assert proc.returncode == 130, proc.stderr[-2000:]
    x = np.random.default_rng(0).random((64, 3)).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, np.arange(64) % 2)).batch(16)
    with pytest.raises(InputError, match="--strategy multiworker; resume with that strategy"):
        fit_stage(RunDir(tmp_path / "run"), "tiny", tiny_model(), lambda e: ds.repeat(e[1] - e[0]), ds,
                  StageConfig(epochs=4, batch_size=16), loss=keras.losses.SparseCategoricalCrossentropy(True))

    backup = tmp_path / "run" / "backup" / "tiny"
    for f in backup.iterdir():
        f.unlink()
    (backup / "training_metadata.json").write_text('{"epoch": 1, "batch": -1}')  # what fit's backup holds
    proc = _tiny(tmp_path, stop=-1)
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "--strategy default or mirrored; resume with that strategy, or delete the folder" in last, last
    assert "Traceback" not in proc.stderr
