#!/usr/bin/env python3
"""Loads `migsim reencode --rechunk` output of every corpus stream into a real QEMU.

For each corpus entry whose sidecar says a real destination accepted the stream
(roundtrip_load.verdict == "accepted"):

  1. `migsim reencode STREAM OUT --rechunk N` writes a regrouped stream, which
     must differ from the original bytes;
  2. the sidecar's argv_destination is started with `-incoming exec:cat OUT`
     (or `-incoming defer` + migrate-set-capabilities + migrate-incoming when
     the sidecar's roundtrip mode is "defer") and `-qmp unix:SOCK`;
  3. query-migrate is polled until "completed" (or "failed", or a timeout);
  4. each guest_ram_sha256 range of the sidecar is saved with QMP `pmemsave`
     and its sha256 compared with the sidecar's.

Entries whose command line needs generated resources under {W} are skipped
with a message unless --resources names a folder that holds them, or
--stand-in-resources is given: then each missing resource is replaced by a
zero-filled file of the sidecar's size.  That is exact for disk images and
private (share=off) RAM backends, whose pages the stream overwrites; for a
shared backend with x-ignore-shared the RAM is not in the stream, so only the
load is checked and the RAM ranges are reported as not compared.  The
environment of every child is scrubbed to PATH only.  Exit code: 0 when every
entry that ran loaded and matched, 1 otherwise, 2 on bad usage or a missing tool.
"""

import argparse
import hashlib
import json
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_lib  # noqa: E402

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def needs_missing_resources(sidecar, resources):
    """The first {W} path the destination needs that is not available, or None."""
    for arg in sidecar["argv_destination"]:
        if "{W}" not in arg:
            continue
        for piece in arg.replace(",", "=").split("="):
            if "{W}" in piece:
                path = piece.replace("{W}", resources) if resources else None
                if path is None or not os.path.exists(path):
                    return piece
    return None


def stand_in_resources(sidecar, folder):
    """Zero-filled files of the sidecar's resource sizes; returns the folder."""
    os.makedirs(folder, exist_ok=True)
    for resource in sidecar.get("resources", {}).values():
        path = resource["path"].replace("{W}", folder)
        with open(path, "wb") as out:
            out.truncate(int(resource["size"]))
    return folder


def parse_range(text):
    start, end = text.split("-")
    return int(start, 0), int(end, 0)


def load_one(args, name, sidecar, work, resources):
    stream = os.path.join(args.corpus, name + ".mig.xz")
    original = lzma.decompress(open(stream, "rb").read())
    rechunked = os.path.join(work, name + ".rechunked.mig")
    subprocess.run([args.migsim, "reencode", stream, rechunked, "--rechunk", str(args.rechunk)],
                   check=True, env=ENV)
    data = open(rechunked, "rb").read()
    if data == original:
        return "FAIL", "rechunked stream is identical to the original"
    defer = sidecar["roundtrip_load"].get("mode") == "defer"
    uri = f"exec:cat {rechunked}"
    argv = [args.qemu if a == "qemu-system-x86_64" else a for a in sidecar["argv_destination"]]
    argv = [("defer" if defer else uri) if a == "<uri>" else a for a in argv]
    if resources:
        argv = [a.replace("{W}", resources) for a in argv]
    shared_backend = sidecar.get("capabilities", {}).get("x-ignore-shared") and \
        resources != args.resources
    sock = os.path.join(work, name + ".qmp")
    argv += ["-qmp", f"unix:{sock},server=on,wait=off"]
    child = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        qmp = qemu_lib.QmpClient(sock, args.timeout_seconds)
        if defer:
            caps = [{"capability": k, "state": v}
                    for k, v in sorted(sidecar.get("destination_capabilities", {}).items())]
            qmp.command("migrate-set-capabilities", capabilities=caps)
            qmp.command("migrate-incoming", uri=uri)
        started = time.monotonic()
        status = None
        while time.monotonic() - started < args.timeout_seconds:
            status = (qmp.command("query-migrate") or {}).get("status")
            if status in ("completed", "failed"):
                break
            time.sleep(0.02)
        seconds = time.monotonic() - started
        if status != "completed":
            return "FAIL", f"query-migrate status {status!r} after {seconds:.2f} s"
        mismatches = []
        ranges = sidecar["roundtrip_load"].get("guest_ram_sha256", {})
        if shared_backend:
            ranges = {}
        for text, expected in sorted(ranges.items()):
            start, end = parse_range(text)
            dump = os.path.join(work, f"{name}.{start:x}.bin")
            qmp.command("pmemsave", val=start, size=end - start, filename=dump)
            digest = hashlib.sha256(open(dump, "rb").read()).hexdigest()
            os.unlink(dump)
            if digest != expected:
                mismatches.append(f"{text} sha256 {digest} != sidecar {expected}")
        qmp.command("quit")
        qmp.close()
        if mismatches:
            return "FAIL", "; ".join(mismatches)
        compared = ("RAM not compared (x-ignore-shared RAM lives in the stand-in backend)"
                    if shared_backend else f"{len(ranges)} RAM ranges match")
        return "PASS", (f"completed in {seconds:.2f} s; {compared}; "
                        f"{len(data)} bytes vs {len(original)} original")
    except (OSError, qemu_lib.QmpError) as error:
        return "FAIL", f"{error}"
    finally:
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--migsim", default="out/release/migsim")
    parser.add_argument("--corpus", default="../shared/corpus/qemu-7.2")
    parser.add_argument("--qemu", default="qemu-system-x86_64")
    parser.add_argument("--rechunk", type=int, default=97)
    parser.add_argument("--resources", default=None, help="folder that {W} stands for")
    parser.add_argument("--stand-in-resources", action="store_true",
                        help="zero-filled files for missing {W} resources")
    parser.add_argument("--timeout-seconds", type=float, default=30.0)
    args = parser.parse_args()
    if shutil.which(args.qemu) is None:
        qemu_lib.skip("qemu_load_rechunk.py", f"{args.qemu} not installed")
        return 0
    if not os.path.isdir(args.corpus):
        qemu_lib.skip("qemu_load_rechunk.py", f"{args.corpus} not found")
        return 0
    if not os.access(args.migsim, os.X_OK):
        print(f"qemu_load_rechunk.py: {args.migsim} not built")
        return 1
    results = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    with tempfile.TemporaryDirectory(prefix="migsim-rechunk-") as work:
        for sidecar_name in sorted(os.listdir(args.corpus)):
            if not sidecar_name.endswith(".json") or ".analyze" in sidecar_name:
                continue
            name = sidecar_name[: -len(".json")]
            sidecar = json.load(open(os.path.join(args.corpus, sidecar_name)))
            load = sidecar.get("roundtrip_load") or {}
            if load.get("verdict") != "accepted":
                print(f"SKIP {name}: no stream a destination accepted")
                results["SKIP"] += 1
                continue
            resources = args.resources
            missing = needs_missing_resources(sidecar, resources)
            if missing is not None and args.stand_in_resources:
                resources = stand_in_resources(sidecar, os.path.join(work, name + ".W"))
            elif missing is not None:
                print(f"SKIP {name}: needs generated resource {missing} "
                      "(pass --resources or --stand-in-resources)")
                results["SKIP"] += 1
                continue
            verdict, detail = load_one(args, name, sidecar, work, resources)
            if resources is not None and resources != args.resources:
                detail += " (stand-in resources)"
                shutil.rmtree(resources, ignore_errors=True)
            results[verdict] += 1
            print(f"{verdict} {name}: {detail}", flush=True)
    print(f"pass {results['PASS']}, fail {results['FAIL']}, skip {results['SKIP']}")
    return 0 if results["FAIL"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
