"""The comparison behind scripts/crosscheck-deidentification (see there).

dicomdrop (the real daemon, `--once`, `deidentify.write_dicom: true`) and dicognito, an
independent de-identifier, both process the same corpus files. For every attribute of every
source file, at every depth, each tool's result is classified as removed, emptied, replaced
(a different value) or kept (the original value). Attributes where the two tools disagree
on whether the original value survives are the differences docs/DEIDENTIFICATION.md must
explain; removed-versus-replaced disagreements are counted too (both hide the value).

Usage: crosscheck_deidentification.py [--json FILE] [--limit N] [CORPUS_DIR]
"""
import argparse
import collections
import json
import os
import pathlib
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import warnings

import pydicom
from dicognito.anonymizer import Anonymizer

warnings.simplefilter("ignore")
DICOMDROP = os.environ["DICOMDROP"]


def source_files(corpus, limit):
    """Corpus files pydicom reads as datasets with a SOP Instance UID, one per content."""
    seen, found = set(), []
    for path in sorted(corpus.rglob("*")):
        if not path.is_file() or path.stat().st_size > 64 << 20:
            continue
        try:
            ds = pydicom.dcmread(path)
            if "SOPInstanceUID" not in ds:
                continue
        except Exception:
            continue
        content = path.read_bytes()
        if content in seen:
            continue
        seen.add(content)
        found.append(path)
        if limit and len(found) >= limit:
            break
    return found


def run_dicomdrop(files, work):
    """Runs the daemon once over a drop holding `files`; maps each source to its .dcm output."""
    drop, out = work / "drop" / "corpus", work / "out"
    drop.mkdir(parents=True)
    names = {}
    for index, path in enumerate(files):
        name = f"{index:04d}-{path.name}"
        shutil.copyfile(path, drop / name)
        names[f"corpus/{name}"] = path
    (work / "watch.yaml").write_text(
        "drop: drop\noutput: out\ndatabase: ledger.sqlite\nsettle_seconds: 0\n"
        "deidentify:\n  write_dicom: true\n")
    subprocess.run([DICOMDROP, "--config", str(work / "watch.yaml"), "--once"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ledger = sqlite3.connect(work / "ledger.sqlite")
    rows = ledger.execute(
        "SELECT s.path, c.outcome, c.reason, o.path FROM sources s JOIN contents c USING (sha256) "
        "LEFT JOIN outputs o ON o.sha256 = s.sha256 AND o.path LIKE '%.dcm'").fetchall()
    outputs, refused = {}, {}
    for source, outcome, reason, output in rows:
        if output:
            outputs[names[source]] = out / output
        elif outcome != "processed":
            refused[names[source]] = reason
    return outputs, refused


def classify(original, result):
    """removed, emptied, replaced or kept, of one element against the tool's same element."""
    if result is None:
        return "removed"
    if result.value in (None, "", b"", []) or (result.VR == "SQ" and len(result.value) == 0):
        return "emptied"
    return "kept" if result.value == original.value else "replaced"


def compare(original, result, path, into):
    """Classifies every element of `original` at every depth; keys are keyword paths."""
    for element in original:
        if element.tag.group == 0x0002 or element.tag == 0x7FE00010:
            continue
        name = "Private " + element.tag.group.__format__("04X") if element.tag.is_private else (
            element.keyword or f"({element.tag.group:04X},{element.tag.element:04X})")
        if 0x6000 <= element.tag.group <= 0x60FF:
            name = "Overlay group 60xx"
        key = f"{path}>{name}" if path else name
        counterpart = result.get(element.tag) if result is not None else None
        if element.VR == "SQ" and counterpart is not None and counterpart.VR == "SQ" and len(counterpart.value):
            into[key].add("kept-structure")
            for item, other in zip(element.value, counterpart.value):
                compare(item, other, key, into)
            continue
        if element.VR == "SQ" and len(element.value) == 0 and counterpart is not None:
            into[key].add("kept")
            continue
        try:
            into[key].add(classify(element, counterpart))
        except Exception:
            into[key].add("replaced")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", nargs="?", default="corpus/files")
    parser.add_argument("--json", help="write the per-attribute classification here")
    parser.add_argument("--limit", type=int, default=0)
    arguments = parser.parse_args()
    files = source_files(pathlib.Path(arguments.corpus), arguments.limit)
    work = pathlib.Path(tempfile.mkdtemp(prefix="crosscheck-"))
    try:
        outputs, refused = run_dicomdrop(files, work)
        tools = {"dicomdrop": collections.defaultdict(lambda: collections.Counter()),
                 "dicognito": collections.defaultdict(lambda: collections.Counter())}
        compared = 0
        for source, output in sorted(outputs.items()):
            original = pydicom.dcmread(source)
            ours = pydicom.dcmread(output)
            theirs = pydicom.dcmread(source)
            Anonymizer(seed="crosscheck").anonymize(theirs)
            for tool, result in (("dicomdrop", ours), ("dicognito", theirs)):
                per_file = collections.defaultdict(set)
                compare(original, result, "", per_file)
                for key, classes in per_file.items():
                    tools[tool][key].update(classes)
            compared += 1
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def survives(counter):
        return counter.get("kept", 0) > 0

    differences, agreements = [], collections.Counter()
    for key in sorted(set(tools["dicomdrop"]) | set(tools["dicognito"])):
        ours, theirs = tools["dicomdrop"][key], tools["dicognito"][key]
        if survives(ours) != survives(theirs):
            differences.append((key, dict(ours), dict(theirs)))
        else:
            agreements["both keep" if survives(ours) else "both hide"] += 1
    report = {
        "files_compared": compared,
        "files_dicomdrop_refused": {str(path): reason for path, reason in refused.items()},
        "attributes_seen": len(tools["dicomdrop"]),
        "agreements": dict(agreements),
        "both_keep": sorted(k for k in tools["dicomdrop"] if survives(tools["dicomdrop"][k]) and survives(tools["dicognito"][k])),
        "dicomdrop_keeps_dicognito_hides": [d for d in differences if survives(d[1])],
        "dicognito_keeps_dicomdrop_hides": [d for d in differences if not survives(d[1])],
    }
    if arguments.json:
        pathlib.Path(arguments.json).write_text(json.dumps(report, indent=1))
    print(f"files compared: {compared}; refused by dicomdrop: {len(refused)}; "
          f"attribute paths seen: {report['attributes_seen']}; agreeing: {dict(agreements)}")
    for title, rows in (("dicomdrop keeps the original value, dicognito does not",
                         report["dicomdrop_keeps_dicognito_hides"]),
                        ("dicognito keeps the original value, dicomdrop does not",
                         report["dicognito_keeps_dicomdrop_hides"])):
        print(f"\n{title}: {len(rows)}")
        for key, ours, theirs in rows:
            print(f"  {key}: dicomdrop {ours} dicognito {theirs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
