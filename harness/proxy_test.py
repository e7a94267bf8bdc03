#!/usr/bin/env python3
"""Live QEMU 7.2 migrations through `migsim proxy` with faults (python3 stdlib only).

Every guest is pc-i440fx-7.2, 32 MiB, TCG, booted from qemu_lib's boot sector
(it dirties 128 pages), run for a second, then paused with `stop` unless the
case says running.  All sockets are loopback TCP.  Cases, in order:

  record          no faults, QEMU -> proxy -> `migsim sink --stream-out`, twice
                  from two fresh guests: finds the RAM span and the offset of
                  the I440FX device section, and checks that both recordings
                  put them at the same byte (the corrupt cases rely on it)
  reset-retry     QEMU -> proxy (reset at mid-RAM) -> QEMU, the source slowed to
                  1 MiB/s so the reset finds it sending RAM: it reports failed,
                  stays paused, its RAM hash (pmemsave) is unchanged; the
                  destination exits 1; then a new destination and a second
                  migrate through the same proxy complete, and the destination's
                  RAM hash equals the source's
  reset-late      the same reset unthrottled: the source has written most of the
                  stream already, so the outcome depends on timing (failed and
                  paused, failed and postmigrate, or completed and postmigrate);
                  RAM unchanged and `cont` runs the guest in every case
  reset-running   the reset on a running guest: failed, the source keeps running
  corrupt-rp      QEMU -> proxy (XOR 0xff into the I440FX PCI vendor id byte,
                  at the offset the recordings found) -> QEMU, return path on:
                  the destination refuses the section, the source reports failed,
                  is left in postmigrate, its RAM hash is unchanged, cont works
  corrupt-norp    the same without the return path: the source reports completed
  sink-truncate   QEMU -> proxy (truncate at mid-RAM) -> `migsim sink`, return
                  path on: the sink exits 2 naming the offset and path, its main
                  channel holds exactly the truncated bytes, the source reports
                  failed (SHUT 1) and its RAM hash is unchanged
  multifd-drop    multifd with 2 channels and the return path into `migsim sink`;
                  the proxy resets channel 1 after 100000 bytes: the sink names
                  multifd/channel1 at that offset, the source fails and stays
                  paused with its RAM unchanged

Each case prints what QEMU 7.2 did (query-migrate status, query-status, the
destination's exit code and last stderr line); docs/proxy.md records them.
--case NAME (repeatable) runs only those cases (record always runs).  Skips
with a message when qemu-system-x86_64 is absent.
"""

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_lib  # noqa: E402

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
RAM_BYTES = 32 << 20
BASE = ["-machine", "pc-i440fx-7.2", "-m", "32", "-smp", "1", "-display", "none",
        "-nodefaults"]
I440FX = b"0000:00:00.0/I440FX"
RUN_BEFORE_S = 1.0


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Run:
    """Work folder, binaries and the boot drive shared by the cases."""

    def __init__(self, migsim, qemu, work):
        self.migsim, self.qemu, self.work = migsim, qemu, work
        self.drive = qemu_lib.write_boot_drive(os.path.join(work, "boot-dirty.raw"))
        self.argv = [qemu] + BASE + ["-drive", "file=%s,format=raw,if=ide" % self.drive]

    def path(self, name):
        return os.path.join(self.work, name)

    def source(self, name, running=False):
        vm = qemu_lib.Qemu(self.argv, self.work, name)
        time.sleep(RUN_BEFORE_S)
        if not running:
            vm.qmp.command("stop")
        return vm

    def destination(self, name, port):
        return qemu_lib.Qemu(self.argv + ["-incoming", "tcp:127.0.0.1:%d" % port],
                             self.work, name)

    def ram_hash(self, vm, name):
        dump = self.path(name + ".pmem")
        vm.qmp.command("pmemsave", val=0, size=RAM_BYTES, filename=dump)
        with open(dump, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        os.unlink(dump)
        return digest

    def proxy(self, name, to_port, faults, sessions=1):
        plan = self.path(name + ".plan.json")
        with open(plan, "w") as handle:
            json.dump({"description": name, "faults": faults}, handle, indent=1)
        return Proxy(self.migsim, plan, "tcp:127.0.0.1:%d" % to_port, sessions,
                     self.path(name + ".log.jsonl"))


class Proxy:
    def __init__(self, migsim, plan, to, sessions, log):
        self.log_path = log
        self.process = subprocess.Popen(
            [migsim, "proxy", "--listen", "tcp:127.0.0.1:0", "--to", to, "--plan", plan,
             "--sessions", str(sessions), "--log", log],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        line = self.process.stderr.readline()
        match = re.search(r"listening on (\S+)", line)
        if not match:
            self.process.kill()
            raise Failure("proxy did not start: %r" % line)
        self.uri = match.group(1)

    def finish(self, timeout_s=30):
        try:
            out, err = self.process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            out, err = self.process.communicate()
            raise Failure("proxy did not finish its sessions; stdout:\n%s" % out)
        check(self.process.returncode == 0, "proxy exit %d: %s" % (self.process.returncode, err))
        return out


def start_sink(run, name, extra=()):
    sink = subprocess.Popen([run.migsim, "sink", "--listen", "tcp:127.0.0.1:0", "--once",
                             "--idle-ms", "20000", "--stream-out", run.path(name + ".mig")]
                            + list(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV)
    match = re.search(r"listening on tcp:127.0.0.1:(\d+)", sink.stderr.readline())
    if not match:
        sink.kill()
        raise Failure("sink did not start")
    return sink, int(match.group(1))


def wait_exit(vm, timeout_s=20):
    """The destination's exit code once it has ended (None if it is still up)."""
    try:
        return vm.process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None


def last_line(text):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-3:]) if lines else "(nothing)"


def stop_quietly(vm):
    if vm.process.poll() is None:
        vm.stop()
    else:
        vm.qmp.close()
        vm.stderr.close()


# ------------------------------------------------------------------ record

def layout(stream):
    """(RAM bytes before the devices, offset of the I440FX PCI config's first byte)."""
    at = stream.find(bytes([len(I440FX)]) + I440FX)
    check(at > 5 and stream[at - 5] == 0x04, "no FULL section for %s" % I440FX.decode())
    header = at - 5                       # 0x04, be32 section id, len, idstr, be32 x2
    payload = at + 1 + len(I440FX) + 8
    return header, payload + 4            # PCIDevice: be32 version_id, then config[256]


def record(run, name, capabilities):
    """One migration of a fresh paused guest through an empty plan into the sink."""
    sink, sink_port = start_sink(run, name)
    proxy = run.proxy(name, sink_port, [])
    source = run.source(name)
    try:
        if capabilities:
            source.qmp.command("migrate-set-capabilities", capabilities=[
                {"capability": c, "state": True} for c in capabilities])
        source.qmp.command("migrate", uri=proxy.uri)
        status = source.wait_migration(60)
    finally:
        source.stop()
    out, err = sink.communicate(timeout=60)
    check(status.get("status") == "completed", "record: %s" % status)
    check(sink.returncode == 0, "record sink: %s" % err)
    proxy_out = proxy.finish()
    with open(run.path(name + ".mig"), "rb") as handle:
        stream = handle.read()
    check("to-destination %d bytes received, %d forwarded" % (len(stream), len(stream))
          in proxy_out, "proxy byte count differs from the sink's %d" % len(stream))
    return stream


def case_record(run, info):
    """Two recordings per capability set through an empty plan; their layouts must agree."""
    said = []
    for key, capabilities in (("norp", []), ("rp", ["return-path"])):
        streams = [record(run, "record-%s%d" % (key, i), capabilities) for i in range(2)]
        layouts = [layout(stream) for stream in streams]
        differing = sum(1 for a, b in zip(*streams) if a != b)
        check(len(streams[0]) == len(streams[1]) and layouts[0] == layouts[1],
              "%s: two recordings differ in layout: %d and %d bytes, I440FX at %s and %s"
              % (key, len(streams[0]), len(streams[1]), layouts[0], layouts[1]))
        info[key] = {"stream_bytes": len(streams[0]), "i440fx_header": layouts[0][0],
                     "i440fx_config": layouts[0][1], "mid_ram": layouts[0][0] // 2}
        said.append("%s: %d bytes, I440FX at %d (config at %d), %d bytes differ"
                    % (key, len(streams[0]), layouts[0][0], layouts[0][1], differing))
    return "same layout twice; " + "; ".join(said)


# ------------------------------------------------------------------ QEMU -> QEMU

def fired_line(fault, byte, kind, session=0, channel=0, direction="to-destination"):
    return ("proxy: fault %d fired: session %d channel %d %s byte %d %s\n"
            % (fault, session, channel, direction, byte, kind))


def settled_status(vm, timeout_s=20):
    """query-status once the destination has left 'inmigrate'."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = vm.qmp.command("query-status")["status"]
        if status != "inmigrate" or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


SLOW_BYTES_PER_S = 1 << 20   # the stream takes about a second: the reset finds it mid-RAM


def resumed(vm):
    """`cont`, then query-status: a source left in postmigrate can still run."""
    vm.qmp.command("cont")
    return vm.qmp.command("query-status")["status"]


def case_reset_retry(run, info):
    """The source is slowed to 1 MiB/s, so the reset reaches it mid-RAM; then a retry."""
    port = free_port()
    at = info["norp"]["mid_ram"]
    source = run.source("reset-src")
    vms = [source]
    try:
        before = run.ram_hash(source, "reset-src-before")
        source.qmp.command("migrate-set-parameters", **{"max-bandwidth": SLOW_BYTES_PER_S})
        vms.append(run.destination("reset-dst1", port))
        proxy = run.proxy("reset", port, [{"kind": "reset", "at": {"byte": at}}], sessions=2)
        source.qmp.command("migrate", uri=proxy.uri)
        failed = source.wait_migration(30)
        check(failed.get("status") == "failed", "source after the reset: %s" % failed)
        paused = source.qmp.command("query-status")["status"]
        check(paused == "paused", "source run state after the reset: %s" % paused)
        check(run.ram_hash(source, "reset-src-after") == before,
              "the source's RAM changed across the failed migration")
        code = wait_exit(vms[1])
        check(code is not None, "the destination is still up after the reset")
        destination_says = last_line(vms[1].stderr_text())
        vms.append(run.destination("reset-dst2", port))
        source.qmp.command("migrate-set-parameters", **{"max-bandwidth": 1 << 30})
        source.qmp.command("migrate", uri=proxy.uri)
        done = source.wait_migration(60)
        check(done.get("status") == "completed", "retry: %s" % done)
        left = source.qmp.command("query-status")["status"]
        arrived = settled_status(vms[2])
        check(run.ram_hash(vms[2], "reset-dst2") == before,
              "the retried destination's RAM differs from the source's")
        out = proxy.finish()
        check(fired_line(0, at, "reset") in out, "proxy output lacks the reset line:\n" + out)
        check("proxy: sessions 2," in out, "proxy did not serve 2 sessions:\n" + out)
    finally:
        for vm in vms:
            stop_quietly(vm)
    return ("source: query-migrate failed (%s), query-status %s, RAM hash unchanged; "
            "destination exit %s: %s; retry: completed, source %s, destination %s, RAM hash "
            "= source's" % (failed.get("error-desc", "no error-desc"), paused, code,
                            destination_says, left, arrived))


LATE_OUTCOMES = [("failed", "paused"), ("failed", "postmigrate"), ("completed", "postmigrate")]


def case_reset_late(run, info):
    """Unthrottled, a paused source writes its 1.1 MiB stream into socket buffers in
    milliseconds, so the reset at mid-RAM races its progress: three outcomes."""
    port = free_port()
    at = info["norp"]["mid_ram"]
    source = run.source("late-src")
    vms = [source]
    try:
        before = run.ram_hash(source, "late-src-before")
        vms.append(run.destination("late-dst", port))
        proxy = run.proxy("late", port, [{"kind": "reset", "at": {"byte": at}}])
        source.qmp.command("migrate", uri=proxy.uri)
        failed = source.wait_migration(30)
        state = source.qmp.command("query-status")["status"]
        # All three seen with 7.2, by timing: the reset reaches the source while it still
        # writes RAM (failed, paused), during its completion stage (failed, postmigrate), or
        # after the kernel took its last byte (completed, postmigrate: without the return
        # path nothing tells the source that the destination died).
        outcome = (failed.get("status"), state)
        check(outcome in LATE_OUTCOMES, "source after a late reset: query-migrate %s, "
              "query-status %s" % outcome)
        check(run.ram_hash(source, "late-src-after") == before,
              "the source's RAM changed across the failed migration")
        after_cont = resumed(source)
        check(after_cont == "running", "source after cont: %s" % after_cont)
        code = wait_exit(vms[1])
        check(code is not None and code != 0, "destination exit %s after the reset" % code)
        proxy.finish()
    finally:
        for vm in vms:
            stop_quietly(vm)
    return ("source: query-migrate %s (%s), query-status %s, RAM hash unchanged, cont: "
            "%s; destination exit %s" % (failed.get("status"),
                                          failed.get("error-desc", "no error-desc"), state,
                                          after_cont, code))


def case_reset_running(run, info):
    """Slowed as reset-retry: unthrottled, the source could finish before the reset."""
    port = free_port()
    source = run.source("running-src", running=True)
    vms = [source]
    try:
        source.qmp.command("migrate-set-parameters", **{"max-bandwidth": SLOW_BYTES_PER_S})
        vms.append(run.destination("running-dst", port))
        proxy = run.proxy("running", port,
                          [{"kind": "reset", "at": {"byte": info["norp"]["mid_ram"]}}])
        source.qmp.command("migrate", uri=proxy.uri)
        failed = source.wait_migration(30)
        check(failed.get("status") == "failed", "source after the reset: %s" % failed)
        state = source.qmp.command("query-status")["status"]
        check(state == "running", "running source after the reset: %s" % state)
        code = wait_exit(vms[1])
        check(code is not None, "the destination is still up after the reset")
        proxy.finish()
    finally:
        for vm in vms:
            stop_quietly(vm)
    return ("source: query-migrate failed (%s), query-status %s; destination exit %s"
            % (failed.get("error-desc", "no error-desc"), state, code))


def case_corrupt(run, info, return_path):
    name = "corrupt-rp" if return_path else "corrupt-norp"
    port = free_port()
    at = info["rp" if return_path else "norp"]["i440fx_config"]
    source = run.source(name + "-src")
    vms = [source]
    try:
        before = run.ram_hash(source, name + "-before")
        vms.append(run.destination(name + "-dst", port))
        if return_path:
            source.qmp.command("migrate-set-capabilities",
                               capabilities=[{"capability": "return-path", "state": True}])
        proxy = run.proxy(name, port, [{"kind": "corrupt", "at": {"byte": at}, "xor": "ff",
                                        "note": "I440FX PCI config[0], the vendor id"}])
        source.qmp.command("migrate", uri=proxy.uri)
        result = source.wait_migration(30)
        code = wait_exit(vms[1])
        check(code is not None and code != 0, "destination exit %s after the corruption" % code)
        text = vms[1].stderr_text()
        check("I440FX" in text, "the destination's refusal does not name I440FX: %r" % text)
        state = source.qmp.command("query-status")["status"]
        check(run.ram_hash(source, name + "-after") == before,
              "the source's RAM changed across the refused migration")
        out = proxy.finish()
        check(fired_line(0, at, "corrupt") in out, "proxy output lacks the corrupt line:\n" + out)
        check(state == "postmigrate", "source run state: %s (7.2 said postmigrate)" % state)
        if return_path:
            check(result.get("status") == "failed", "source with return path: %s" % result)
        else:
            check(result.get("status") == "completed",
                  "source without return path: %s (7.2 said completed)" % result)
        after_cont = resumed(source)
        check(after_cont == "running", "source after cont: %s" % after_cont)
    finally:
        for vm in vms:
            stop_quietly(vm)
    return ("source: query-migrate %s%s, query-status %s, RAM hash unchanged, cont: %s; "
            "destination exit %d: %s" % (result.get("status"), " (%s)" % result["error-desc"]
                                         if "error-desc" in result else "", state, after_cont,
                                         code, text.strip().splitlines()[0]))


def case_sink_truncate(run, info):
    at = info["norp"]["mid_ram"]
    sink, sink_port = start_sink(run, "truncate")
    proxy = run.proxy("truncate", sink_port, [{"kind": "truncate", "at": {"byte": at}}])
    source = run.source("truncate-src")
    try:
        before = run.ram_hash(source, "truncate-before")
        source.qmp.command("migrate-set-capabilities",
                           capabilities=[{"capability": "return-path", "state": True}])
        source.qmp.command("migrate", uri=proxy.uri)
        result = source.wait_migration(30)
        state = source.qmp.command("query-status")["status"]
        check(run.ram_hash(source, "truncate-after") == before,
              "the source's RAM changed across the truncated migration")
    finally:
        source.stop()
    out, err = sink.communicate(timeout=60)
    check(sink.returncode == 2, "sink exit %d for a truncated stream" % sink.returncode)
    check(re.match(r"offset 0x[0-9a-f]+: \S+: ", err) is not None,
          "sink stderr lacks 'offset 0x...: path: message': %r" % err)
    check("sink: main channel %d bytes\n" % at in out, "sink did not get %d bytes:\n%s"
          % (at, out))
    check("sink: return path open, pongs 1, shut 1\n" in out, "sink did not send SHUT 1:\n" + out)
    check(result.get("status") == "failed", "source after the truncation: %s" % result)
    proxy_out = proxy.finish()
    check(fired_line(0, at, "truncate") in proxy_out, "proxy lacks the truncate line")
    return ("sink: %s; source: query-migrate %s (%s), query-status %s, RAM hash unchanged"
            % (err.strip().splitlines()[0], result.get("status"),
               result.get("error-desc", "no error-desc"), state))


def case_multifd_drop(run, info):
    """Two multifd channels; the proxy resets channel 1 (the first multifd connection)
    after 100000 bytes, into `migsim sink`."""
    at = 100000
    sink, sink_port = start_sink(run, "multifd-drop")
    proxy = run.proxy("multifd-drop", sink_port,
                      [{"kind": "drop", "channel": 1, "at": {"byte": at}}])
    source = run.source("multifd-drop-src")
    try:
        before = run.ram_hash(source, "multifd-drop-before")
        source.qmp.command("migrate-set-capabilities", capabilities=[
            {"capability": c, "state": True} for c in ("multifd", "return-path")])
        source.qmp.command("migrate-set-parameters", **{"multifd-channels": 2})
        source.qmp.command("migrate", uri=proxy.uri)
        result = source.wait_migration(30)
        state = source.qmp.command("query-status")["status"]
        check(result.get("status") == "failed", "source after the drop: %s" % result)
        check(state == "paused", "source run state after the drop: %s" % state)
        check(run.ram_hash(source, "multifd-drop-after") == before,
              "the source's RAM changed across the failed migration")
    finally:
        source.stop()
    out, err = sink.communicate(timeout=60)
    check(sink.returncode == 2, "sink exit %d after a dropped channel" % sink.returncode)
    expected = "offset 0x%x: multifd/channel1: " % at
    check(err.startswith(expected), "sink stderr lacks %r: %r" % (expected, err))
    proxy_out = proxy.finish()
    check(fired_line(0, at, "drop", channel=1) in proxy_out, "proxy lacks the drop line")
    check("sessions 1, connections 3 " in proxy_out, "proxy did not pair 3 connections")
    return ("sink: %s; source: query-migrate failed (%s), query-status %s, RAM hash unchanged"
            % (err.strip().splitlines()[0], result.get("error-desc", "no error-desc"), state))


CASES = [
    ("reset-retry", case_reset_retry),
    ("reset-late", case_reset_late),
    ("reset-running", case_reset_running),
    ("corrupt-rp", lambda run, info: case_corrupt(run, info, True)),
    ("corrupt-norp", lambda run, info: case_corrupt(run, info, False)),
    ("sink-truncate", case_sink_truncate),
    ("multifd-drop", case_multifd_drop),
]


def main():
    args = qemu_lib.live_test_options(__doc__, "proxy",
                                      "run only this case (repeatable); record always runs")
    names = [name for name, _ in CASES] + ["record"]
    qemu, code = qemu_lib.live_test_start("proxy", args, names)
    if qemu is None:
        return code
    run = Run(args.migsim, qemu, args.work)
    info = {}
    failed = 0
    for name, function in [("record", case_record)] + CASES:
        if args.case and name != "record" and name not in args.case:
            continue
        started = time.monotonic()
        try:
            what = function(run, info)
            print("PASS %-14s %5.2f s  %s" % (name, time.monotonic() - started, what))
        except (Failure, qemu_lib.QmpError, OSError, subprocess.TimeoutExpired) as error:
            failed += 1
            print("FAIL %-14s %5.2f s  %s" % (name, time.monotonic() - started, error))
            if name == "record":
                break
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
