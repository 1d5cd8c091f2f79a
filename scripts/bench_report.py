"""What scripts/bench-peers and scripts/bench-targets print beside their numbers: the
machine and the versions that made them, and the block they replace in a Markdown file. A
figure without its machine and library versions cannot be compared with the next run's."""
import os
import pathlib
import platform
import re
import shutil
import subprocess
import time


def _run(command) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (result.stdout or result.stderr).strip()


def _package(name: str) -> str:
    """A Debian package's version, or "not installed"."""
    return _run(["dpkg-query", "-W", "-f", "${Version}", name]) or "not installed"


def _python_module(name: str) -> str:
    try:
        module = __import__(name)
    except ImportError:
        return "not installed"
    return getattr(module, "__version__", "?")


def machine(dicomdrop: str | None = None) -> str:
    """One paragraph: CPU, cores, RAM, kernel, Debian, and the versions of everything that
    does the work being measured (dicomdrop's compiler and C libraries, the peers)."""
    cpuinfo = pathlib.Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    meminfo = pathlib.Path("/proc/meminfo").read_text()
    memory_kb = int(re.search(r"^MemTotal:\s+(\d+)", meminfo, re.M).group(1))
    os_release = pathlib.Path("/etc/os-release").read_text() if pathlib.Path("/etc/os-release").exists() else ""
    pretty = re.search(r'^PRETTY_NAME="?([^"\n]*)', os_release, re.M)
    debian = pathlib.Path("/etc/debian_version")
    swift = _run(["swift", "--version"]).splitlines() if shutil.which("swift") else []
    swift_version = next((line for line in swift if "Swift version" in line), "not installed")
    parts = [
        f"{platform.node()}: {model.group(1).strip() if model else platform.machine()}, {os.cpu_count()} cores, "
        f"{memory_kb / 1024 / 1024:.1f} GiB RAM, kernel {platform.release()}, "
        f"{pretty.group(1) if pretty else 'unknown OS'} ({debian.read_text().strip() if debian.exists() else '?'})",
        f"{swift_version}",
    ]
    if dicomdrop:
        parts.append(f"dicomdrop {_run([dicomdrop, '--version']) or '?'}")
    parts += [
        f"zlib {_package('zlib1g')}, libpng {_package('libpng16-16')}, libjpeg-turbo {_package('libjpeg62-turbo')}, "
        f"OpenJPEG {_package('libopenjp2-7')}",
        f"dcmtk {_package('dcmtk')}, Orthanc {_package('orthanc')}",
        f"Python {platform.python_version()}, pydicom {_python_module('pydicom')}, Pillow {_python_module('PIL')}, "
        f"numpy {_python_module('numpy')}, pylibjpeg-libjpeg {_python_module('libjpeg')}, "
        f"pylibjpeg-openjpeg {_python_module('openjpeg')}",
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    ]
    return "Machine: " + "; ".join(parts) + "."


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: whether something else ran beside the benchmark
    (this machine's two cores are shared with builds)."""
    return " ".join(pathlib.Path("/proc/loadavg").read_text().split()[:3])


def write_block(document: str, name: str, heading: str, text: str) -> None:
    """Puts `text` between `<!-- NAME: begin -->` and `<!-- NAME: end -->` in `document`,
    replacing what was there, or appends it under `heading` the first time."""
    path = pathlib.Path(document)
    content = path.read_text()
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    block = f"{begin}\n{text}\n{end}"
    if begin in content:
        content = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, content, flags=re.S)
    else:
        content = content.rstrip("\n") + f"\n\n## {heading}\n\n{block}\n"
    path.write_text(content)
