"""The measurements behind scripts/bench-peers (see there): one drop through every peer, in
turn, then one table. Python is the harness and one of the peers, never part of dicomdrop."""
import hashlib
import json
import multiprocessing
import os
import pathlib
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import bench_daemon  # noqa: E402  (the drop and the Python pipeline are shared with bench-daemon)

DICOMDROP = os.environ["DICOMDROP"]
RENDER_BENCH = os.environ["RENDER_BENCH"]
TIME = ["/usr/bin/time", "-f", "%e %U %S %M"]


def timed(command, **kwargs):
    """Wall, CPU (user + system) seconds and peak RSS (MB) of a command and its children."""
    result = subprocess.run(TIME + command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({result.returncode}): {result.stderr[-2000:]}")
    wall, user, system, peak = result.stderr.strip().splitlines()[-1].split()
    return float(wall), float(user) + float(system), int(peak) / 1024


# ---- the peers, each one command run under /usr/bin/time ----

def peer_dicomdrop(root, drop, out):
    (root / "ledger.sqlite").unlink(missing_ok=True)
    config = root / "watch.yaml"
    # The drop directory is the folder above the files' one: one unit of all the files, as a
    # study folder is dropped (loose files would be one unit, one run, each).
    config.write_text(f"drop: {drop.parent}\noutput: {out}\ndatabase: {root}/ledger.sqlite\nsettle_seconds: 0\n"
                      f"deidentify: {{key_file: {root}/key, map_database: {root}/map.sqlite}}\n")
    return [DICOMDROP, "--config", str(config), "--once"]


def peer_python(processes, level):
    def command(root, drop, out):
        return [sys.executable, __file__, "python", str(drop), str(out), str(processes), str(level)]
    return command


def peer_dcmtk(root, drop, out):
    # Per file, as a DAG's task would call the tools: a de-identified copy (dcmodify on a
    # copy: it edits in place), its DICOM JSON, its PNG (dcm2pnm at 8 bits, the default window
    # by min-max like dicomdrop's fallback); two files at a time.
    script = root / "dcmtk-one.sh"
    script.write_text(f"""#!/bin/bash
set -e
f=$1; n=$(basename "$f" .dcm)
cp "$f" "{out}/$n.dcm"
dcmodify -nb -q -imt -ea "(0010,0010)" -ea "(0010,0020)" -ea "(0010,0030)" -ea "(0008,0050)" -ea "(0008,0090)" "{out}/$n.dcm" 2>/dev/null || true
dcm2json "{out}/$n.dcm" > "{out}/$n.json"
dcm2pnm --write-png --min-max-window "{out}/$n.dcm" "{out}/$n.png"
""")
    script.chmod(0o755)
    return ["bash", "-c", f"ls {drop}/*.dcm | xargs -P2 -n1 {script}"]


def peer_sha256(root, drop, out):
    return ["bash", "-c", f"ls {drop}/*.dcm | xargs -P2 -n100 sha256sum > /dev/null"]


def python_worker(args):
    path, out, level = args
    return bench_daemon.process_one(pathlib.Path(path), pathlib.Path(out), level)


def run_python(drop, out, processes, level):
    """The pydicom + Pillow pipeline of scripts/bench_daemon.py, in `processes` processes."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [(str(p), str(out), level) for p in sorted(drop.glob("*.dcm"))]
    if processes == 1:
        for item in paths:
            python_worker(item)
    else:
        with multiprocessing.Pool(processes) as pool:
            for _ in pool.imap_unordered(python_worker, paths, chunksize=8):
                pass


def orthanc_binary():
    return shutil.which("Orthanc") or shutil.which("orthanc")


def run_orthanc(root, drop, out):
    """Orthanc on loopback with a temporary SQLite index and no plugins: each file uploaded
    over REST, then its /preview PNG, /tags and /anonymize; two clients at a time. Returns
    wall, CPU (server and client) and the server's peak RSS."""
    import http.client
    import resource
    import threading
    storage = root / "orthanc"
    shutil.rmtree(storage, ignore_errors=True)
    storage.mkdir()
    port = 18042
    (root / "orthanc.json").write_text(json.dumps({
        "StorageDirectory": str(storage), "IndexDirectory": str(storage), "HttpPort": port, "DicomServerEnabled": False,
        "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "Plugins": [], "HttpCompressionEnabled": False}))
    server = subprocess.Popen([orthanc_binary(), str(root / "orthanc.json")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                connection.request("GET", "/system")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        def cpu_of(pid):
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        files = sorted(drop.glob("*.dcm"))
        out.mkdir(parents=True, exist_ok=True)
        server_cpu, client_cpu = cpu_of(server.pid), resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        def client(part):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            def call(method, path, body=None):
                connection.request(method, path, body=body)
                response = connection.getresponse()
                data = response.read()
                if response.status != 200:
                    raise RuntimeError(f"orthanc {method} {path}: {response.status}")
                return data
            for path in part:
                instance = json.loads(call("POST", "/instances", path.read_bytes()))["ID"]
                (out / f"{path.stem}.png").write_bytes(call("GET", f"/instances/{instance}/preview"))
                (out / f"{path.stem}.json").write_bytes(call("GET", f"/instances/{instance}/tags"))
                (out / f"{path.stem}.anon.dcm").write_bytes(call("POST", f"/instances/{instance}/anonymize", b"{}"))
        threads = [threading.Thread(target=client, args=(files[i::2],)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = cpu_of(server.pid) - server_cpu + usage.ru_utime + usage.ru_stime - client_cpu.ru_utime - client_cpu.ru_stime
        peak = int(re.search(r"VmHWM:\s+(\d+)", pathlib.Path(f"/proc/{server.pid}/status").read_text()).group(1)) / 1024
        return wall, cpu, peak
    finally:
        server.terminate()
        server.wait()


def encoder_floor(drop):
    """The PNG encoder alone on the rendered pixels (scripts/bench-render's harness, one
    thread): CPU seconds for the whole drop."""
    listing = "\n".join(str(p) for p in sorted(drop.glob("*.dcm"))) + "\n"
    result = subprocess.run([RENDER_BENCH], input=listing, capture_output=True, text=True, check=True)
    values = dict(item.split("=", 1) for item in result.stdout.split() if "=" in item)
    return float(values["floor_rle_seconds"])


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "python":
        run_python(pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return 0
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    document = sys.argv[2] if len(sys.argv) > 2 else ""
    root = pathlib.Path(tempfile.mkdtemp(prefix="dicomdrop-bench-peers."))
    try:
        sources = bench_daemon.templates()
        size = bench_daemon.make_drop(root, files, sources)
        drop = root / "drop" / "bench"
        bench_daemon.warm(root)
        peers = [("dicomdrop --once", peer_dicomdrop),
                 ("pydicom + Pillow, 1 process, level 1", peer_python(1, 1)),
                 ("pydicom + Pillow, 2 processes, level 1", peer_python(2, 1)),
                 ("pydicom + Pillow, 1 process, level 6", peer_python(1, 6)),
                 ("pydicom + Pillow, 2 processes, level 6", peer_python(2, 6)),
                 ("dcmtk tools per file, 2 at a time", peer_dcmtk),
                 ("floor: SHA-256 of the drop (sha256sum, 2 at a time)", peer_sha256)]
        rows = []
        for name, make in peers:
            out = root / "out"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            wall, cpu, peak = timed(make(root, drop, out))
            rows.append((name, wall, cpu, peak))
            print(f"{name}: {wall:.2f} s, CPU {cpu:.2f} s, peak {peak:.0f} MB", file=sys.stderr)
        if orthanc_binary():
            out = root / "out"
            shutil.rmtree(out, ignore_errors=True)
            wall, cpu, peak = run_orthanc(root, drop, out)
            rows.append(("Orthanc over REST (upload, /preview, /tags, /anonymize), 2 clients", wall, cpu, peak))
        else:
            print("bench-peers: Orthanc is not installed (apt-get install orthanc): its row is left out", file=sys.stderr)
        floor = encoder_floor(drop)
        rows.append(("floor: zlib level 1 (RLE) alone on the rendered pixels, one thread", None, floor, None))
        base = rows[0][1]
        lines = [f"{files} files, {size / 1e6:.0f} MB (uncompressed CT and MR, distinct UIDs); "
                 f"{platform.node()}: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
                 f"Python {platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
                 "| peer | files/s | MB/s | CPU ms per file | peak RSS MB | dicomdrop's lead (wall) |", "|---|---|---|---|---|---|"]
        for name, wall, cpu, peak in rows:
            lines.append(f"| {name} | {files / wall:.0f} | {size / 1e6 / wall:.0f} | {cpu * 1000 / files:.2f} | "
                         f"{peak:.0f} | {wall / base:.1f}x |" if wall else
                         f"| {name} | | | {cpu * 1000 / files:.2f} | | |")
        table = "\n".join(lines)
        print(table)
        if document:
            path = pathlib.Path(document)
            text = path.read_text()
            begin, end = "<!-- bench-peers: begin -->", "<!-- bench-peers: end -->"
            block = f"{begin}\n{table}\n{end}"
            text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S) if begin in text \
                else text + f"\n## Every peer (scripts/bench-peers)\n\n{block}\n"
            path.write_text(text)
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
