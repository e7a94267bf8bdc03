#!/usr/bin/env python3
"""Records a QEMU migration-stream corpus in the schema of ../shared/corpus/qemu-7.2
(sidecar `qemu-corpus-sidecar/1`) from any installed QEMU binary.

For each configuration of a JSON list (harness/record-configs.json is the
default), it starts the source, sets capabilities and parameters over QMP,
saves the stream with `migrate "exec:cat > FILE"`, then loads it into a fresh
destination started with `-incoming "exec:cat FILE"` (or `-incoming defer`
when destination capabilities are set) and records the sha256 of the
destination's guest-physical RAM ranges read back with QMP `pmemsave`.

Output per configuration, in --out: NAME.mig.xz (or NAME.mig with --plain;
the sidecar's size and sha256 are of the uncompressed bytes, as in the
corpus) and NAME.json.  Generated resources (the boot drive of running
guests) go to --out too and are named in the sidecar (`{W}` placeholder).
Not produced: the analyze-migration.py fields (`analyze`), which need QEMU's
script.  Multifd needs a socket, not exec:, so it is not recorded here
(harness/sink_test.py covers it live).

Configuration keys: name, machine, memory_mb, smp, devices (list of -device
values), extra_args, machine_opts, guest ("paused" | "running"),
run_before_s, capabilities, parameters, parameter_changes_during_migration
({"after_s": S, "set": {...}}), destination_capabilities, expected_outcome,
notes.
"""

import argparse
import datetime
import hashlib
import json
import lzma
import os
import re
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_lib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOW_RAM_TOP = 0xA0000
HIGH_RAM_START = 0x100000
PCI_HOLE_START = {"q35": 0x80000000, "pc": 0xC0000000}  # below-4G RAM ends here at most


def base_argv(binary, config, folder_token):
    argv = [binary, "-machine", config["machine"] + (
        "," + config["machine_opts"] if config.get("machine_opts") else ""),
        "-m", str(config.get("memory_mb", 32)), "-smp", str(config.get("smp", 1)),
        "-display", "none", "-nodefaults"]
    for device in config.get("devices", []):
        argv += ["-device", device]
    argv += list(config.get("extra_args", []))
    if config.get("guest") == "running":
        argv += ["-drive", "file=%s/boot-dirty-1m.raw,format=raw,if=ide" % folder_token]
    return argv


def ram_ranges(config):
    """Guest-physical ranges below the PCI hole: [0, 0xa0000) and [1 MiB, top)."""
    memory = config.get("memory_mb", 32) << 20
    hole = PCI_HOLE_START["q35" if "q35" in config["machine"] else "pc"]
    top = min(memory, hole)
    ranges = [(0, min(LOW_RAM_TOP, top))]
    if top > HIGH_RAM_START:
        ranges.append((HIGH_RAM_START, top))
    return ranges


def stream_facts(data, migsim=None):
    """Header, configuration machine and the VM-description trailer, as `migsim inspect`
    finds them: the stream's grammar lives in migsim's record layer only, not here.
    A stream migsim refuses (a failed or newer-QEMU recording) keeps its header facts and
    says why in `inspect_error`; its trailer fields stay None."""
    facts = {"magic": data[0:4].hex(), "version": struct.unpack(">I", data[4:8])[0],
             "first_record_type": data[8] if len(data) > 8 else None,
             "configuration_machine": None, "vmdesc_offset": None, "vmdesc_json_len": None,
             "eof_marker_offset": None, "page_size": None, "vmdesc_devices": [],
             "vmdesc_len_contains_0x7b": None}
    migsim = migsim or os.path.join(ROOT, "out/release/migsim")
    run = subprocess.run([migsim, "inspect", "-"], input=data, capture_output=True,
                         env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
                         timeout=600)
    summary = run.stdout.decode(errors="replace")
    if run.returncode != 0:
        facts["inspect_error"] = run.stderr.decode(errors="replace").strip()
        return facts
    machine = re.search(r"^machine: (.*) \(capabilities \d+", summary, re.M)
    if machine:
        facts["configuration_machine"] = machine.group(1)
    trailer = re.search(r"^EOF at 0x([0-9a-f]+); VM description: (\d+) bytes at 0x([0-9a-f]+)$",
                        summary, re.M)
    if trailer is None:
        return facts
    eof, json_len, json_at = int(trailer.group(1), 16), int(trailer.group(2)), \
        int(trailer.group(3), 16)
    desc = json.loads(data[json_at:json_at + json_len].decode())
    facts.update({"vmdesc_offset": eof + 1, "vmdesc_json_len": json_len,
                  "eof_marker_offset": eof, "page_size": desc.get("page_size"),
                  "vmdesc_len_contains_0x7b": 0x7B in data[json_at - 4:json_at]})
    facts["vmdesc_devices"] = ["%s/%d v%d" % (d.get("name"), d.get("instance_id", 0),
                                             d.get("version", 0))
                               for d in desc.get("devices", [])]
    return facts


def set_caps(qmp, capabilities):
    if capabilities:
        qmp.command("migrate-set-capabilities", capabilities=[
            {"capability": k, "state": bool(v)} for k, v in sorted(capabilities.items())])


def record_source(binary, config, out, stream_path):
    argv = base_argv(binary, config, out)
    running = config.get("guest") == "running"
    if not running:
        argv.append("-S")
    source = qemu_lib.Qemu(argv, out, config["name"] + ".source")
    result = {}
    try:
        set_caps(source.qmp, config.get("capabilities", {}))
        if config.get("parameters"):
            source.qmp.command("migrate-set-parameters", **config["parameters"])
        if running:
            time.sleep(config.get("run_before_s", 1.5))
        result["runstate_before"] = source.qmp.command("query-status")["status"]
        started = time.monotonic()
        try:
            source.qmp.command("migrate", uri="exec:cat > " + stream_path)
        except qemu_lib.QmpError as error:     # a migration blocker: nothing was sent
            result.update({"status": "blocked", "error": str(error)})
        if result.get("status") != "blocked":
            change = config.get("parameter_changes_during_migration")
            info = source.wait_migration(change["after_s"] if change else 300)
            if change and info.get("status") == "active":
                source.qmp.command("migrate-set-parameters", **change["set"])
                info = source.wait_migration(300)
            result.update({"status": info.get("status"), "query_migrate": info,
                           "wall_s": round(time.monotonic() - started, 3)})
        result["runstate_after"] = source.qmp.command("query-status")["status"]
    finally:
        result["exitcode"] = source.stop()
        result["stderr"] = source.stderr_text(remove=True)
    return result, result.pop("stderr")


def roundtrip(binary, config, out, stream_path):
    defer = bool(config.get("destination_capabilities"))
    argv = base_argv(binary, config, out) + ["-S", "-incoming",
                                             "defer" if defer else "exec:cat " + stream_path]
    started = time.monotonic()
    dest = qemu_lib.Qemu(argv, out, config["name"] + ".destination")
    load = {"mode": "defer" if defer else "cmdline"}
    try:
        if defer:
            set_caps(dest.qmp, config["destination_capabilities"])
            dest.qmp.command("migrate-incoming", uri="exec:cat " + stream_path)
        info = dest.wait_migration(300)
        load["verdict"] = "accepted" if info.get("status") == "completed" else "rejected"
        load["query_migrate"] = {"status": info.get("status")}
        load["wall_to_verdict_s"] = round(time.monotonic() - started, 3)
        load["runstate"] = dest.qmp.command("query-status")["status"]
        hashes = {}
        if load["verdict"] == "accepted":
            dump = os.path.join(out, config["name"] + ".pmem")
            for start, end in ram_ranges(config):
                dest.qmp.command("pmemsave", val=start, size=end - start, filename=dump)
                with open(dump, "rb") as handle:
                    hashes["0x%x-0x%x" % (start, end)] = hashlib.sha256(handle.read()).hexdigest()
            os.unlink(dump)
        load["guest_ram_sha256"] = hashes
    except qemu_lib.QmpError as error:
        load.setdefault("verdict", "rejected")
        load["error"] = str(error)
    finally:
        load["exitcode"] = dest.stop()
    load["stderr"] = dest.stderr_text(remove=True)
    return load


def placeholder_argv(binary, config, destination):
    argv = base_argv(os.path.basename(binary), config, "{W}")
    if config.get("guest") != "running" or destination:
        argv.append("-S")
    if destination:
        argv += ["-incoming", "defer" if config.get("destination_capabilities") else "<uri>"]
    return argv


def record_one(binary, version, config, out, plain):
    started = time.monotonic()
    name = config["name"]
    resources = {}
    if config.get("guest") == "running":
        drive = qemu_lib.write_boot_drive(os.path.join(out, "boot-dirty-1m.raw"))
        with open(drive, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        resources["boot-dirty"] = {"path": "{W}/boot-dirty-1m.raw", "size": 1 << 20,
                                   "kind": "boot-dirty", "sha256": digest,
                                   "generator": "harness/qemu_lib.py write_boot_drive"}
    stream_path = os.path.join(out, name + ".mig")
    if os.path.exists(stream_path):
        os.unlink(stream_path)
    source_result, source_stderr = record_source(binary, config, out, stream_path)
    data = b""
    if os.path.exists(stream_path):
        with open(stream_path, "rb") as handle:
            data = handle.read()
    load = roundtrip(binary, config, out, stream_path) if data else {"verdict": "not-run"}
    stream = {"file": name + (".mig" if plain else ".mig.xz"),
              "compression": None if plain else "xz", "size": len(data),
              "sha256": hashlib.sha256(data).hexdigest()}
    if not data:
        stream = {"file": None, "compression": None, "size": 0, "sha256": None}
        if os.path.exists(stream_path):
            os.unlink(stream_path)
    elif not plain:
        packed = lzma.compress(data, preset=6)
        with open(stream_path + ".xz", "wb") as handle:
            handle.write(packed)
        stream["xz_size"] = len(packed)
        os.unlink(stream_path)
    if source_result.get("status") == "blocked":
        observed = "blocked"
    elif source_result.get("status") != "completed":
        observed = "migrate-failed"
    else:
        observed = "load-ok" if load.get("verdict") == "accepted" else "load-failed"
    sidecar = {
        "schema": "qemu-corpus-sidecar/1", "name": name, "set": config.get("set", "user"),
        "qemu": {"binary": binary, "version": version}, "machine": config["machine"],
        "machine_opts": config.get("machine_opts"), "memory_mb": config.get("memory_mb", 32),
        "smp": config.get("smp", 1), "nodefaults": True, "devices": config.get("devices", []),
        "argv_source": placeholder_argv(binary, config, False),
        "argv_destination": placeholder_argv(binary, config, True),
        "placeholders": {"{W}": "directory holding the generated resources listed under "
                                "'resources'"},
        "guest_state_at_migrate": ("running %.1fs before migrate" % config.get("run_before_s", 1.5)
                                   if config.get("guest") == "running"
                                   else "paused from start (-S, prelaunch)"),
        "capabilities": config.get("capabilities", {}),
        "parameters": config.get("parameters", {}),
        "parameter_changes_during_migration": config.get("parameter_changes_during_migration"),
        "pre_migrate_qmp": [], "destination_capabilities": config.get("destination_capabilities", {}),
        "migration_uri": "exec:cat > <stream>", "resources": resources,
        "expected_outcome": config.get("expected_outcome", "load-ok"),
        "notes": config.get("notes", ""), "source_result": source_result,
        "source_stderr": source_stderr, "stream": stream,
        "stream_facts": stream_facts(data) if data else None,
        "roundtrip_load": load, "observed_outcome": observed,
        "generated_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "generation_seconds": round(time.monotonic() - started, 2),
    }
    with open(os.path.join(out, name + ".json"), "w") as handle:
        json.dump(sidecar, handle, indent=2)
        handle.write("\n")
    return sidecar


def main():
    parser = argparse.ArgumentParser(description="Record a QEMU migration corpus.")
    parser.add_argument("--qemu", default=None,
                        help="QEMU binary (default: qemu-system-x86_64 on PATH)")
    parser.add_argument("--configs", default=os.path.join(ROOT, "harness/record-configs.json"))
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--only", default=None, help="comma-separated configuration names")
    parser.add_argument("--plain", action="store_true", help="keep streams uncompressed")
    args = parser.parse_args()
    binary = qemu_lib.find_qemu(args.qemu)
    if binary is None:
        print("record: skipped: %s not found" % (args.qemu or "qemu-system-x86_64"))
        return 0
    with open(args.configs) as handle:
        configs = json.load(handle)
    if args.only:
        wanted = args.only.split(",")
        configs = [c for c in configs if c["name"] in wanted]
        missing = set(wanted) - {c["name"] for c in configs}
        if missing:
            print("record: unknown configuration(s): %s" % ", ".join(sorted(missing)))
            return 2
    os.makedirs(args.out, exist_ok=True)
    version = qemu_lib.qemu_version(binary)
    status = 0
    rows = []
    for config in configs:
        sidecar = record_one(binary, version, config, os.path.abspath(args.out), args.plain)
        rows.append(sidecar)
        ok = sidecar["observed_outcome"] == sidecar["expected_outcome"]
        status |= 0 if ok else 1
        print("%s %-40s %9d bytes  %s  %.2f s" % ("ok  " if ok else "DIFF", sidecar["name"],
                                                  sidecar["stream"]["size"],
                                                  sidecar["observed_outcome"],
                                                  sidecar["generation_seconds"]))
    write_index(args.out, version, rows)
    return status


def write_index(out, version, sidecars):
    """INDEX.md: one row per entry recorded in this run, like the corpus's."""
    lines = ["# Recorded migration streams", "",
             "Recorded by harness/record.py from %s. One `.json` sidecar per entry." % version,
             "", "| name | machine | MiB | vCPUs | stream bytes | outcome | features |",
             "|---|---|---|---|---|---|---|"]
    for s in sorted(sidecars, key=lambda entry: entry["name"]):
        features = ["caps: " + ", ".join(sorted(s["capabilities"]))] if s["capabilities"] else []
        if s["guest_state_at_migrate"].startswith("running"):
            features.append("running")
        lines.append("| %s | %s | %s | %s | %d | %s | %s |" % (
            s["name"], s["machine"], s["memory_mb"], s["smp"], s["stream"]["size"],
            s["observed_outcome"], "; ".join(features) or "-"))
    with open(os.path.join(out, "INDEX.md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
