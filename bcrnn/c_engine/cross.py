"""`bcrnn c-emulate`: the C engine's standalone driver (src/bcrnn_run.c) cross-built for Arm and run under QEMU,
checked value by value against the integer reference, with the memory a Cortex-M build takes.

    bcrnn c-emulate RUN --target aarch64 cortex-m4 cortex-m7 --segments 3

Targets: `aarch64` (Linux, static, aarch64-linux-gnu-gcc, run by qemu-aarch64; the NEON kernel, or neon-dotprod /
portable with --kernel) and the bare-metal `cortex-m4` / `cortex-m7` (arm-none-eabi-gcc, newlib-nano with
semihosting, src/mps2/ startup and linker script; QEMU's mps2-an386 / mps2-an500 boards). Each target runs the
first segments of the run's test speaker twice: a -DBCRNN_TRACE build (every layer boundary) and the plain build
(logits and labels; on a Cortex-M also its flash, RAM and painted-stack high-water mark). numpy only, besides the
run's checkpoint for its test speaker.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bcrnn.c_engine.export import SRC, CModel, generate, write_sources
from bcrnn.c_engine.wrapper import CEngineError, default_cache_dir

DRIVER = SRC / "bcrnn_run.c"
MPS2 = SRC / "mps2"
WARN = ("-std=c99", "-O3", "-ffp-contract=off", "-Wall", "-Wextra", "-pedantic")
# the part the Cortex-M figures are compared with (e.g. an STM32F746: Cortex-M7, 1 MB flash, 320 KB SRAM)
PART_FLASH, PART_RAM = 1024 * 1024, 320 * 1024


class ToolMissing(CEngineError):
    """A cross compiler, library or emulator is not installed; the message names its Debian package."""


@dataclass(frozen=True)
class Target:
    """A cross target: compiler, flags, the kernels it builds, how it runs, the Debian packages of its tools."""

    name: str
    cc: str
    flags: tuple[str, ...]
    kernels: dict[str, tuple[str, ...]]  # kernel name -> its extra flags (the first is the default)
    bare_metal: bool
    machine: str = ""  # QEMU's board (bare metal)
    run: tuple[str, ...] = ()  # the user-mode emulator's command (Linux)
    # tool -> (Debian package, check command); the first check that fails is reported
    tools: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    @property
    def default_kernel(self) -> str:
        return next(iter(self.kernels))


_ARM_EABI_TOOLS = (
    ("arm-none-eabi-gcc", "gcc-arm-none-eabi", ("arm-none-eabi-gcc", "--version")),
    ("newlib-nano (libc_nano.a)", "libnewlib-arm-none-eabi", ()),  # checked by _check_newlib
    ("arm-none-eabi-size", "binutils-arm-none-eabi", ("arm-none-eabi-size", "--version")),
    ("qemu-system-arm", "qemu-system-arm", ("qemu-system-arm", "--version")),
)
_MCU_FLAGS = ("-mthumb", "-mfloat-abi=hard", "-ffunction-sections", "-fdata-sections")
TARGETS = {
    "aarch64": Target(
        "aarch64", "aarch64-linux-gnu-gcc", ("-static",),
        {"neon": (), "neon-dotprod": ("-march=armv8.2-a+dotprod",), "portable": ("-DBCRNN_PORTABLE",)},
        bare_metal=False, run=("qemu-aarch64", "-cpu", "max"),
        tools=(("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu", ("aarch64-linux-gnu-gcc", "--version")),
               ("the AArch64 C library for -static", "libc6-dev-arm64-cross", ()),  # checked by the build
               ("qemu-aarch64", "qemu-user", ("qemu-aarch64", "--version")))),
    "cortex-m4": Target("cortex-m4", "arm-none-eabi-gcc", ("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", *_MCU_FLAGS),
                        {"portable": ()}, bare_metal=True, machine="mps2-an386", tools=_ARM_EABI_TOOLS),
    "cortex-m7": Target("cortex-m7", "arm-none-eabi-gcc", ("-mcpu=cortex-m7", "-mfpu=fpv5-d16", *_MCU_FLAGS),
                        {"portable": ()}, bare_metal=True, machine="mps2-an500", tools=_ARM_EABI_TOOLS),
}


def check_tools(target: Target) -> None:
    """ToolMissing naming the Debian package of the first tool `target` lacks."""
    for tool, package, cmd in target.tools:
        if cmd:
            ok = shutil.which(cmd[0]) is not None and subprocess.run(cmd, capture_output=True).returncode == 0
        elif package == "libnewlib-arm-none-eabi":
            ok = Path(_print_file(target, "libc_nano.a")).is_absolute()
        elif package == "libc6-dev-arm64-cross":
            ok = Path(_print_file(target, "libc.a")).is_absolute()
        else:
            ok = True
        if not ok:
            raise ToolMissing(f"{target.name}: {tool} is missing: install the Debian package {package} "
                              f"(sudo apt-get install -y {package})")


def _print_file(target: Target, name: str) -> str:
    """gcc -print-file-name for the target's multilib (a bare name when the library is not there)."""
    r = subprocess.run([target.cc, *target.flags, f"-print-file-name={name}"], capture_output=True, text=True)
    return r.stdout.strip()


@dataclass
class Build:
    """A cross-built driver: its executable (ELF; a bare-metal build's linker map beside it, .map) and the build's
    commands and compiler output."""

    target: Target
    kernel: str
    trace: bool
    elf: Path
    log: str


def build(model: CModel, target: str, kernel: str | None = None, trace: bool = False, cache_dir=None) -> Build:
    """The driver for `model` on `target` (a TARGETS key), built once into
    cache_dir/cross/<model sha256>/<target>-<kernel>[-trace]-<hash of sources, flags, compiler>/."""
    t = TARGETS[target]
    kernel = kernel or t.default_kernel
    if kernel not in t.kernels:
        raise ValueError(f"{target} builds the kernels {', '.join(t.kernels)}, not {kernel!r}")
    check_tools(t)
    flags = [*WARN, *t.flags, *t.kernels[kernel], *(["-DBCRNN_TRACE"] if trace else [])]
    sources = {p.name: p.read_text() for p in (SRC / "bcrnn.c", SRC / "bcrnn.h", DRIVER)}
    if t.bare_metal:
        sources |= {p.name: p.read_text() for p in (MPS2 / "startup.c", MPS2 / "mps2.ld")}
    version = subprocess.run([t.cc, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    key = hashlib.sha256("\0".join([model.header, model.source, *sources, *sources.values(), *flags, version])
                         .encode()).hexdigest()
    folder = (Path(cache_dir) if cache_dir else default_cache_dir()) / "cross" / model.sha256[:16] / (
        f"{target}-{kernel}{'-trace' if trace else ''}-{key[:16]}")
    elf = folder / "bcrnn_run.elf"
    names = ["bcrnn.c", "bcrnn_model.c", "bcrnn_run.c", *(["startup.c"] if t.bare_metal else [])]
    objects = {n: n[:-2] + ".o" for n in names}
    if elf.is_file():
        return Build(t, kernel, trace, elf, (folder / "build.log").read_text())
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=folder.parent))
    try:
        write_sources(model, tmp)
        shutil.copy(DRIVER, tmp)
        if t.bare_metal:
            for name in ("startup.c", "mps2.ld"):
                shutil.copy(MPS2 / name, tmp)
        log = []
        commands = [[t.cc, *flags, "-I", str(tmp), "-c", str(tmp / n), "-o", str(tmp / objects[n])] for n in names]
        link = [t.cc, *flags, "-o", str(tmp / elf.name), *(str(tmp / o) for o in objects.values())]
        if t.bare_metal:
            link += ["--specs=nano.specs", "-nostartfiles", "-T", str(tmp / "mps2.ld"), "-Wl,--gc-sections",
                     f"-Wl,-Map={tmp / 'bcrnn_run.map'}", "-lc_nano", "-lrdimon_nano", "-lgcc"]
        for cmd in [*commands, link]:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            log.append(" ".join(cmd) + "\n" + r.stdout + r.stderr)
            if r.returncode != 0:
                hint = ""
                if "cannot find -lc" in r.stderr and not t.bare_metal:
                    hint = "\n(no static AArch64 C library: install the Debian package libc6-dev-arm64-cross)"
                raise CEngineError(f"{t.cc} failed building the driver for {target}:\n{log[-1]}{hint}")
        (tmp / "build.log").write_text("".join(log))
        try:
            tmp.rename(folder)
        except OSError:
            if not elf.is_file():
                raise
        return Build(t, kernel, trace, elf, "".join(log))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class Emulated:
    """What the driver printed for some segments: per segment the label, the logits and (trace build) every layer
    boundary; the kernel; on bare metal the console's memory line (stack_peak, stack_size, heap)."""

    kernel: str
    sha256: str
    labels: list[int]
    logits: list[np.ndarray]
    streams: list[dict[str, np.ndarray]]
    memory: dict[str, int] | None
    seconds: float


def parse_output(text: str) -> Emulated:
    """The driver's output (src/bcrnn_run.c's format) -> Emulated (seconds and memory left empty)."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("bcrnn_run kernel "):
        raise CEngineError(f"not the driver's output: {text[:200]!r}")
    head = lines[0].split()
    kernel, sha = head[2], head[4]
    labels, logits, streams = [], [], []
    current: dict[str, np.ndarray] = {}
    ended = None
    for line in lines[1:]:
        tag, _, rest = line.partition(" ")
        if tag == "T":
            meta, _, values = rest.partition(" : ")
            seg, name, ndim, *shape = meta.split()
            if int(seg) != len(labels) or int(ndim) != len(shape):
                raise CEngineError(f"unexpected trace line: {line[:120]!r} (segment {len(labels)} expected)")
            current[name] = np.array(values.split(), np.int64).reshape([int(d) for d in shape])
        elif tag == "S":
            seg, label, *values = map(int, rest.split())
            if seg != len(labels):
                raise CEngineError(f"segment {seg} where segment {len(labels)} was expected")
            labels.append(label)
            logits.append(np.array(values, np.int64))
            streams.append(current)
            current = {}
        elif tag == "end":
            ended = int(rest)
        else:
            raise CEngineError(f"unexpected line in the driver's output: {line[:120]!r}")
    if ended is None or ended != len(labels):
        raise CEngineError(f"the driver's output ends early ({len(labels)} segments, no 'end' line)")
    return Emulated(kernel, sha, labels, logits, streams, None, 0.0)


MEMORY_LINE = re.compile(r"bcrnn_run memory: stack_peak (\d+) stack_size (\d+) heap (\d+)")


def emulate(b: Build, codes: np.ndarray, timeout: float = 1800) -> Emulated:
    """Runs the driver under QEMU on int8 codes (S, 3, frames, mels) and parses what it printed."""
    codes = np.ascontiguousarray(codes, np.int8)
    with tempfile.TemporaryDirectory(prefix="bcrnn-emulate-") as work:
        work = Path(work)
        (work / "codes.bin").write_bytes(codes.tobytes())
        if b.target.bare_metal:
            # semihosting opens codes.bin / out.txt relative to QEMU's working directory; its console (the memory
            # line, errors) comes out of QEMU's stderr
            cmd = ["qemu-system-arm", "-M", b.target.machine, "-nographic", "-monitor", "none", "-serial", "none",
                   "-semihosting-config", "enable=on,target=native,arg=bcrnn_run,arg=codes.bin,arg=out.txt",
                   "-kernel", str(b.elf)]
        else:
            cmd = [*b.target.run, str(b.elf), "codes.bin", "out.txt"]
        t0 = time.time()
        try:
            r = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise CEngineError(f"{b.target.name}: the emulator did not finish in {timeout:.0f} s") from err
        seconds = time.time() - t0
        if r.returncode != 0:
            raise CEngineError(f"{b.target.name}: {' '.join(cmd)} exited with {r.returncode}:\n{r.stdout}{r.stderr}")
        out = parse_output((work / "out.txt").read_text())
    out.seconds = seconds
    if b.target.bare_metal:
        m = MEMORY_LINE.search(r.stdout + r.stderr)
        if not m:
            raise CEngineError(f"{b.target.name}: no memory line on the console:\n{r.stdout}{r.stderr}")
        out.memory = dict(zip(("stack_peak", "stack_size", "heap"), map(int, m.groups())))
    return out


def section_sizes(elf: Path) -> dict[str, int]:
    """Allocated sections of an ELF (arm-none-eabi-size -A)."""
    r = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True)
    sizes = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def _object_share(map_file: Path, objects: set[str]) -> dict[str, int]:
    """Bytes the given object files put into each output section, from the linker map (after --gc-sections)."""
    share: dict[str, int] = {}
    section = None
    pending = None  # an input section name on a line of its own (long names wrap)
    entry = re.compile(r"^ (\S+)?\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)$")
    for line in map_file.read_text().splitlines():
        if line.startswith("Discarded input sections") or line.startswith("Memory Configuration"):
            section = None
            continue
        m = re.match(r"^(\.\w[\w.]*)\s+0x[0-9a-f]+\s+0x[0-9a-f]+", line)
        if m:
            section = m.group(1)
            continue
        if section is None:
            continue
        if re.match(r"^ \S+$", line):
            pending = line.strip()
            continue
        m = entry.match(line)
        if m and (m.group(1) or pending):
            if Path(m.group(3)).name in objects:
                share[section] = share.get(section, 0) + int(m.group(2), 16)
        pending = None
    return share


def memory_figures(b: Build, run: Emulated) -> dict:
    """Flash = .text + .rodata (+ .ARM.exidx) + .data's initial values; RAM = .data + .bss + heap + the painted
    stack's high-water mark; the engine's part (bcrnn.o, bcrnn_model.o) from the linker map; fits the part?"""
    s = section_sizes(b.elf)
    flash_parts = {k: s.get(k, 0) for k in (".text", ".rodata", ".ARM.exidx", ".data")}
    ram_parts = {".data": s.get(".data", 0), ".bss": s.get(".bss", 0), "heap": run.memory["heap"],
                 "stack_peak": run.memory["stack_peak"]}
    engine = _object_share(b.elf.with_suffix(".map"), {"bcrnn.o", "bcrnn_model.o"})
    flash, ram = sum(flash_parts.values()), sum(ram_parts.values())
    return {"flash": flash, "flash_parts": flash_parts, "ram": ram, "ram_parts": ram_parts,
            "stack_size": run.memory["stack_size"], "stack_method": "painted stack, high-water mark after main",
            "engine_flash": sum(engine.get(k, 0) for k in flash_parts),
            "engine_ram": sum(engine.get(k, 0) for k in (".data", ".bss")),
            "part_flash": PART_FLASH, "part_ram": PART_RAM, "fits": flash <= PART_FLASH and ram <= PART_RAM}


def compare(ref, codes: np.ndarray, traced: Emulated | None, plain: Emulated) -> tuple[int, int, str | None]:
    """(values equal, values compared, the first difference or None): every layer boundary and label of the trace
    run, the logits and labels of the plain run, against ReferenceBCRNN.forward(trace=True)."""
    equal = total = 0
    first = None

    def check(what: str, got, want) -> None:
        nonlocal equal, total, first
        got, want = np.asarray(got), np.asarray(want)
        if got.shape != want.shape:
            n = int(want.size)
            total += n
            first = first or f"{what}: shape {got.shape}, the reference's {want.shape}"
            return
        same = got.reshape(-1) == want.reshape(-1)
        equal += int(same.sum())
        total += int(same.size)
        if first is None and not same.all():
            i = int(np.flatnonzero(~same)[0])
            first = f"{what}: {int((~same).sum())} values differ, first at flat index {i} ({got.reshape(-1)[i]} " \
                    f"against {want.reshape(-1)[i]})"

    for run in filter(None, (traced, plain)):
        if len(run.labels) != len(codes):
            raise CEngineError(f"the driver classified {len(run.labels)} segments of {len(codes)}")
    for s, c in enumerate(codes):
        logits, streams = ref.forward(c, trace=True)
        label = int(np.argmax(logits))
        if traced is not None:
            missing = set(streams) - set(traced.streams[s])
            if missing or set(traced.streams[s]) - set(streams):
                raise CEngineError(f"segment {s}: boundaries {sorted(traced.streams[s])}, the reference has "
                                   f"{sorted(streams)}")
            for name, want in streams.items():
                check(f"segment {s}, {name} (trace build)", traced.streams[s][name], want)
            check(f"segment {s}, label (trace build)", traced.labels[s], label)
        check(f"segment {s}, logits", plain.logits[s], logits)
        check(f"segment {s}, label", plain.labels[s], label)
    return equal, total, first


def check_target(packed_path, codes: np.ndarray, target: str, kernel: str | None = None, trace: bool = True,
                 cache_dir=None) -> dict:
    """Builds and emulates `target` on the codes (trace and plain builds) and compares with the reference."""
    from bcrnn.reference.model import ReferenceBCRNN

    model = generate(packed_path)
    ref = ReferenceBCRNN.load(packed_path)
    builds = {"plain": build(model, target, kernel, False, cache_dir)}
    if trace:
        builds["trace"] = build(model, target, kernel, True, cache_dir)
    runs = {k: emulate(b, codes) for k, b in builds.items()}
    for k, r in runs.items():
        if r.sha256 != model.sha256:
            raise CEngineError(f"{target} {k} build holds another model ({r.sha256})")
    equal, total, first = compare(ref, codes, runs.get("trace"), runs["plain"])
    out = {"target": target, "kernel": runs["plain"].kernel, "segments": len(codes),
           "segment_bytes": int(codes[0].size) if len(codes) else 0, "equal": equal,
           "compared": total, "first_difference": first, "builds": builds, "runs": runs,
           "seconds": {k: round(r.seconds, 1) for k, r in runs.items()}}
    if builds["plain"].target.bare_metal:
        out["memory"] = memory_figures(builds["plain"], runs["plain"])
    return out


def _kb(n: int) -> str:
    return f"{n:,} B ({n / 1024:.1f} KB)"


def report(result: dict) -> str:
    """The lines `bcrnn c-emulate` prints for one target."""
    t = TARGETS[result["target"]]
    where = f"QEMU {t.machine}" if t.bare_metal else "qemu-aarch64"
    secs = " + ".join(f"{v} s {k}" for k, v in result["seconds"].items())
    n = result["segments"]
    what = ("every layer boundary and label of the trace build, logits and labels of the plain build"
            if "trace" in result["seconds"] else "logits and labels of the plain build")
    lines = [f"{result['target']} ({where}, kernel {result['kernel']}): {result['equal']:,} of {result['compared']:,}"
             f" values equal ({n} segment{'s' if n != 1 else ''}: {what}; emulated {secs})"]
    if result["first_difference"]:
        lines.append(f"  first difference: {result['first_difference']}")
    m = result.get("memory")
    if m:
        fp, rp = m["flash_parts"], m["ram_parts"]
        lines.append(f"  flash {_kb(m['flash'])} = .text {fp['.text']:,} + .rodata {fp['.rodata']:,} + .ARM.exidx "
                     f"{fp['.ARM.exidx']:,} + .data init {fp['.data']:,}; of it the engine (bcrnn.o, bcrnn_model.o) "
                     f"{m['engine_flash']:,}")
        lines.append(f"  RAM {_kb(m['ram'])} = .data {rp['.data']:,} + .bss {rp['.bss']:,} + heap {rp['heap']:,} "
                     f"(newlib stdio) + stack peak {rp['stack_peak']:,} ({m['stack_method']}, of "
                     f"{m['stack_size']:,} reserved); of it the engine's static buffers {m['engine_ram']:,} and "
                     f"the driver's input segment {result['segment_bytes']:,}")
        lines.append(f"  a part with 1 MB flash and 320 KB RAM: {'fits' if m['fits'] else 'does NOT fit'} (flash "
                     f"{100 * m['flash'] / m['part_flash']:.1f}%, RAM {100 * m['ram'] / m['part_ram']:.1f}%)")
    return "\n".join(lines)


def main(argv=None, prog: str | None = None) -> int:
    from bcrnn.reference.model import quantize_features
    from bcrnn.run_folder import RunFolder, RunFolderError

    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                epilog="docs/c_engine.md: the targets, their tools and the measured figures")
    p.add_argument("run", type=Path, help="a BCRNN run folder (or one of its fold folders)")
    p.add_argument("--target", nargs="+", choices=list(TARGETS), default=list(TARGETS),
                   help="targets to build and emulate (default: all)")
    p.add_argument("--kernel", help="the AArch64 kernel: neon (default), neon-dotprod or portable")
    p.add_argument("--segments", type=int, default=3, help="segments of the run's test speaker (default 3)")
    p.add_argument("--data-dir", type=Path, help="the corpus, when not where the run was trained")
    p.add_argument("--no-trace", action="store_true", help="only the plain build (logits and labels)")
    args = p.parse_args(argv)
    if args.segments < 1:
        p.error("--segments must be at least 1")
    try:
        run = RunFolder.open(args.run.resolve())
    except RunFolderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not run.packed.is_file() or not run.checkpoint.is_file():
        print(f"error: {run.model_dir} is not a BCRNN run (no {run.packed.name} or {run.checkpoint.name})",
              file=sys.stderr)
        return 2
    x, speaker, _ = run.test_segments(args.segments, args.data_dir)
    codes = quantize_features(x[: args.segments])
    model = generate(run.packed)
    print(f"model {run.packed} (sha256 {model.sha256[:16]}...), {len(codes)} segment{'s' if len(codes) != 1 else ''}"
          f" of test speaker {speaker}")
    failed = False
    for target in args.target:
        kernel = args.kernel if target == "aarch64" else None
        try:
            result = check_target(run.packed, codes, target, kernel, trace=not args.no_trace)
        except (CEngineError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(report(result), flush=True)
        failed |= result["equal"] != result["compared"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
