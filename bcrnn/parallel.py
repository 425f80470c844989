"""Fold runs in parallel on Ray: every fold x seed of a run is one Ray task (one CPU, one torch thread), on a Ray
started on this machine for the run or on a running cluster (--ray-address, else RAY_ADDRESS), at most --jobs of
them at a time. The process that called (`bcrnn train --jobs N`) loads the corpus, writes config.json, submits the
folds that are not done, merges what each task leaves into the run folder and then writes the reports, exactly as
one process training the folds one after another (bcrnn.experiment.run_experiment) would.

A task on the caller's own machine trains straight into the run folder (last.pt after every epoch, the log lines
appended to train.log as they come), so a killed sweep continues even its cut-short folds with --resume. A task on
another node of a cluster trains in a scratch folder of its own, given the files it needs from the run folder (a
cut-short fold's last.pt, the teacher run's config.json and fold model), and sends back the fold folder's files and
its log lines, which the caller writes into the run folder (result.json last: a fold is done when it exists).
Every node needs this project installed (make setup), at the commit of the caller.

Nothing here imports Ray or torch at import time: `--jobs 1` trains in the calling process and never loads Ray.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bcrnn.options import check_options, given, option


@dataclass
class ParallelOptions:
    """How many fold runs at a time, and where: the options of `bcrnn train` and `bcrnn reproduce`."""

    jobs: int = option(1, "fold runs (folds x seeds) at a time: 1 = one after another in this process; N > 1 = "
                          "each a Ray task (1 CPU, 1 torch thread: --threads does not apply) on a Ray started here "
                          "with N CPUs, or on the cluster of --ray-address", minimum=1)
    ray_address: str | None = option(None, "the Ray cluster of --jobs N (the address `ray start --head` prints; "
                                           "auto = the one running on this machine); every node needs this project "
                                           "installed", unset="RAY_ADDRESS if set, else a Ray started for the run")

    def __post_init__(self):
        check_options(self)
        if self.ray_address and self.jobs == 1:
            raise ValueError("--ray-address runs the folds as Ray tasks: give --jobs N > 1 too (how many at a time)")

    @classmethod
    def from_args(cls, args) -> "ParallelOptions":
        return cls(**given(args, cls))

    @property
    def uses_ray(self) -> bool:
        return self.jobs > 1

    @property
    def address(self) -> str | None:
        """The cluster to connect to; None: start a Ray on this machine for the run."""
        address = self.ray_address or os.environ.get("RAY_ADDRESS") or None
        if address and address.startswith("ray://"):  # the driver would run on the head, not here
            raise ValueError(f"{address}: a Ray Client address does not write into this machine's run folder; run "
                             f"bcrnn on a node of the cluster with its address HOST:PORT (or auto)")
        return address

    def flags(self) -> list[str]:
        """The command-line flags that give these options."""
        return ["--jobs", str(self.jobs)] + (["--ray-address", self.ray_address] if self.ray_address else [])


@dataclass(frozen=True)
class FoldJob:
    """One fold of one seed, its folder in the run folder, and (for a task on another node) the files of the run
    folder and the teacher run it needs there: relative path -> content."""

    seed: int
    fold: object  # bcrnn.folds.Fold
    folder: str
    own_files: dict
    teacher_files: dict

    @property
    def desc(self) -> str:
        return f"seed {self.seed} {self.fold.name}"


def train_fold_job(experiment: dict, fs, job: FoldJob, log_file: str | None, quiet: bool = False,
                   scratch: bool = False) -> dict:
    """The body of a task: train and test one fold with one torch thread. In place (`scratch` False), into the
    run folder's fold folder, logging to `log_file`; in a scratch folder, from `job`'s files, returning the fold
    folder's files and the log lines ({"files": {name: bytes}, "log": [str]}) for the caller to merge."""
    import torch

    from bcrnn.config import ExperimentConfig
    from bcrnn.fold_run import run_fold
    from bcrnn.run_folder import FoldFolder, Logger

    torch.set_num_threads(1)
    cfg = ExperimentConfig.from_dict(experiment)
    if not scratch:
        run_fold(fs, job.fold, job.seed, cfg, FoldFolder(Path(job.folder)), Logger(Path(log_file), quiet=quiet),
                 progress=False)
        return {"files": {}, "log": []}
    lines = []

    def log(msg: str) -> None:
        lines.append(msg)
        if not quiet:
            print(msg, flush=True)

    root = Path(tempfile.mkdtemp(prefix="bcrnn-fold-"))
    try:
        folder = FoldFolder(root / "run" / Path(job.folder).relative_to(Path(job.folder).parents[2]))
        _write_files(folder.path, job.own_files)
        teacher = None
        if job.teacher_files:
            _write_files(root / "teacher", job.teacher_files)
            teacher = [root / "teacher" / str(i) for i in range(cfg.teacher_seeds)]
        run_fold(fs, job.fold, job.seed, cfg, folder, log, progress=False, teacher_runs=teacher)
        files = {p.name: p.read_bytes() for p in sorted(folder.path.iterdir()) if p.is_file()}
        return {"files": files, "log": lines}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _write_files(folder: Path, files: dict) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def merge_fold_files(folder, files: dict) -> None:
    """A fold folder's files sent back by a task, written into the run folder atomically, result.json last."""
    folder.path.mkdir(parents=True, exist_ok=True)
    for name in sorted(files, key=lambda n: n == folder.result.name):
        tmp = folder.path / f".{name}.{os.getpid()}.tmp"
        tmp.write_bytes(files[name])
        tmp.replace(folder.path / name)


def job_inputs(cfg, folder, fold, seed: int) -> tuple[dict, dict]:
    """What a task on another node needs from this machine: the fold's last.pt (a cut-short fold continues) and,
    when the experiment has a teacher, each teacher run's config.json and its model of this fold (the same seed's,
    else seed 0's, as bcrnn.teacher.load_teacher looks for it), under <i>/ for the i-th teacher run."""
    from bcrnn.run_folder import CONFIG, RunFolder
    from bcrnn.teacher import teacher_runs, uses_teacher

    own = {folder.last.name: folder.last.read_bytes()} if folder.last.is_file() else {}
    teacher = {}
    if uses_teacher(cfg):
        for i, path in enumerate(teacher_runs(cfg)):
            run = RunFolder.open(path, allow_fold=False)
            teacher[f"{i}/{CONFIG}"] = run.config_file.read_bytes()
            for candidate in (run.fold_folder(seed, fold.name), run.fold_folder(0, fold.name)):
                if candidate.best.is_file():
                    teacher[f"{i}/{candidate.best.relative_to(run.path)}"] = candidate.best.read_bytes()
                    break
    return own, teacher


def start_ray(opts: ParallelOptions):
    """Ray, connected: to the cluster of `opts` or to one started here with --jobs CPUs (bound to this machine's
    loopback, no dashboard). Returns (ray, whether this call started it and so shuts it down)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report leaves the machine
    import logging

    import ray

    if ray.is_initialized():  # the caller's own Ray (a script, a test): used as it is
        return ray, False
    if opts.address:
        check_reachable(opts.address)
        try:
            ray.init(address=opts.address, logging_level=logging.WARNING, log_to_driver=True)
        except ConnectionError as err:
            hint = "" if os.environ.get("RAY_AUTH_MODE") else (
                " (a cluster with token authentication, as `ray start` makes where a token exists, takes "
                "RAY_AUTH_MODE=token and its token: ~/.ray/auth_token, RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN)")
            raise ConnectionError(f"{err}{hint}") from None
    else:
        package_root = str(Path(__file__).resolve().parents[1])  # the workers import this checkout, as this does
        pythonpath = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        ray.init(num_cpus=opts.jobs, include_dashboard=False, _node_ip_address="127.0.0.1",
                 logging_level=logging.WARNING, log_to_driver=True,
                 runtime_env={"env_vars": {"PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "1"}})
    return ray, True


def check_reachable(address: str, timeout: float = 10.0) -> None:
    """A cluster address host:port must accept a connection: Ray itself keeps retrying one that does not, for
    minutes. ConnectionError, with what to do, when nothing listens there ("auto" is left to Ray)."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        raise ConnectionError(f"no Ray cluster answers at {address} ({err}): start one with `ray start --head` "
                              f"(it prints its address), or leave --ray-address and RAY_ADDRESS unset for a Ray "
                              f"on this machine") from None


def _remote_error(ray, err: BaseException) -> BaseException:
    """The exception a task raised (ValueError, RunFolderError, ...), as the calling code handles it."""
    if isinstance(err, ray.exceptions.RayTaskError) and isinstance(err.cause, Exception):
        return err.cause
    return err


def run_on_ray(todo: list, fs, cfg, run, opts: ParallelOptions, log, quiet: bool = False) -> None:
    """Train the (seed, fold, fold folder) runs of `todo` as Ray tasks, at most opts.jobs at a time, each fold's
    files in the run folder when its task returns. Every task is waited for; then the first error is raised."""
    ray, started = start_ray(opts)
    running, errors = {}, []
    try:
        own_node = ray.get_runtime_context().get_node_id()
        other_nodes = any(n["Alive"] and n["NodeID"] != own_node for n in ray.nodes())
        task = ray.remote(num_cpus=1)(_fold_task)
        experiment, fs_ref = cfg.to_dict(), ray.put(fs)
        jobs = []
        for seed, fold, folder in todo:
            own, teacher = job_inputs(cfg, folder, fold, seed) if other_nodes else ({}, {})
            jobs.append(FoldJob(seed, fold, str(folder.path.absolute()), own, teacher))
        resources = ray.cluster_resources().get("CPU", 0)
        log(f"{len(jobs)} fold run(s) as Ray tasks, {opts.jobs} at a time "
            f"({'cluster ' + opts.address if opts.address else 'Ray on this machine'}, {resources:g} CPUs)")
        pending, finished = list(jobs), 0
        while pending or running:
            while pending and len(running) < opts.jobs:
                job = pending.pop(0)
                ref = task.remote(experiment, fs_ref, job, str(run.log_file.absolute()), own_node, quiet)
                running[ref] = job
            ready, _ = ray.wait(list(running), num_returns=1)
            job = running.pop(ready[0])
            try:
                out = ray.get(ready[0])
            except Exception as err:  # noqa: BLE001 - every task is waited for, then the first error raised
                errors.append(_remote_error(ray, err))
                log(f"{job.desc}: failed ({type(errors[-1]).__name__}: {errors[-1]})")
                continue
            if out["files"]:  # trained on another node: merged here
                merge_fold_files(run.fold_folder(job.seed, job.fold.name), out["files"])
                with open(run.log_file, "a") as f:
                    f.writelines(line + "\n" for line in out["log"])
            finished += 1
            log(f"{job.desc}: done ({finished}/{len(jobs)} fold runs of this call)")
    except KeyboardInterrupt:
        for ref in running:  # killed, not left training into the run folder
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()
    if errors:
        raise errors[0]


def _fold_task(experiment: dict, fs, job: FoldJob, log_file: str, caller_node: str, quiet: bool) -> dict:
    """A Ray task: one fold run, in place on the caller's node, in a scratch folder on any other."""
    import ray

    scratch = ray.get_runtime_context().get_node_id() != caller_node
    return train_fold_job(experiment, fs, job, log_file, quiet=quiet, scratch=scratch)
