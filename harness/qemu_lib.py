"""Small QEMU helpers shared by the harness scripts (python3 stdlib only).

QmpClient speaks QMP over a unix socket; Qemu starts a qemu-system binary with
a QMP socket in a work folder and stops it.  make_boot_sector() hand-assembles
the 512-byte boot sector that keeps a running guest dirtying RAM.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import time


class QmpError(Exception):
    pass


class QmpClient:
    def __init__(self, path, timeout_s=30.0):
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise QmpError("cannot connect to QMP socket " + path)
                time.sleep(0.05)
        self.sock.settimeout(timeout_s)
        self.file = self.sock.makefile("rwb")
        self.events = []
        greeting = self._read()
        if "QMP" not in greeting:
            raise QmpError("no QMP greeting: %r" % greeting)
        self.command("qmp_capabilities")

    def _read(self):
        line = self.file.readline()
        if not line:
            raise QmpError("QMP connection closed")
        return json.loads(line)

    def command(self, name, **arguments):
        message = {"execute": name}
        if arguments:
            message["arguments"] = arguments
        self.file.write(json.dumps(message).encode() + b"\n")
        self.file.flush()
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise QmpError("%s: %s" % (name, reply["error"].get("desc", reply["error"])))
            return reply.get("return")

    def close(self):
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass


class Qemu:
    """One qemu-system process with a QMP socket in folder; argv without -qmp."""

    def __init__(self, argv, folder, name):
        self.qmp_path = os.path.join(folder, name + ".qmp")
        if os.path.exists(self.qmp_path):
            os.unlink(self.qmp_path)
        self.stderr_path = os.path.join(folder, name + ".stderr")
        self.stderr = open(self.stderr_path, "wb")
        full = list(argv) + ["-qmp", "unix:%s,server=on,wait=off" % self.qmp_path]
        self.process = subprocess.Popen(full, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=self.stderr)
        self.qmp = QmpClient(self.qmp_path)

    def wait_migration(self, timeout_s, poll_s=0.05):
        """Polls query-migrate until completed/failed/cancelled; returns the last reply."""
        deadline = time.monotonic() + timeout_s
        while True:
            info = self.qmp.command("query-migrate")
            if info.get("status") in ("completed", "failed", "cancelled"):
                return info
            if time.monotonic() > deadline:
                return info
            time.sleep(poll_s)

    def stop(self):
        try:
            self.qmp.command("quit")
        except (QmpError, OSError):
            pass
        self.qmp.close()
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.stderr.close()
        return code

    def stderr_text(self, remove=False):
        with open(self.stderr_path, "rb") as handle:
            text = handle.read().decode(errors="replace")
        if remove:
            os.unlink(self.stderr_path)
        return text


def skip(script, why):
    """Reports that script cannot run here: prints "SCRIPT: skipped: WHY" and
    appends "SCRIPT<TAB>WHY" to the file MIGSIM_SKIP_LOG names (harness/test.sh
    counts the skips and fails when what they wait for is present)."""
    print("%s: skipped: %s" % (script, why))
    log_path = os.environ.get("MIGSIM_SKIP_LOG")
    if log_path:
        with open(log_path, "a") as log:
            log.write("%s\t%s\n" % (script, why))


def find_qemu(binary=None):
    """The QEMU binary to use, or None: an explicit path, else qemu-system-x86_64 on PATH."""
    if binary:
        return binary if os.access(binary, os.X_OK) else shutil.which(binary)
    return shutil.which("qemu-system-x86_64")


def live_test_options(doc, script, case_help):
    """The options of a test against a live QEMU: --migsim, --qemu, --work
    (out/SCRIPT-test), --case; parsed."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--migsim", default=os.path.join(root, "out/release/migsim"))
    parser.add_argument("--qemu", default=None, help="default: qemu-system-x86_64 on PATH")
    parser.add_argument("--work", default=os.path.join(root, "out/%s-test" % script))
    parser.add_argument("--case", action="append", default=[], help=case_help)
    return parser.parse_args()


def live_test_start(script, args, case_names):
    """(qemu, None) when the test can run (its work folder made, QEMU's version
    printed), else (None, exit code): 0 after a skip (no QEMU), 1 for a migsim
    not built or an unknown --case."""
    name = "%s_test" % script
    qemu = find_qemu(args.qemu)
    if qemu is None:
        skip(name + ".py", "qemu-system-x86_64 not found (install qemu-system-x86)")
        return None, 0
    if not os.access(args.migsim, os.X_OK):
        print("%s: %s not built (ninja out/release/migsim)" % (name, args.migsim))
        return None, 1
    unknown = set(args.case) - set(case_names)
    if unknown:
        print("%s: unknown case(s): %s" % (name, ", ".join(sorted(unknown))))
        return None, 1
    os.makedirs(args.work, exist_ok=True)
    print("%s: %s" % (name, qemu_version(qemu)))
    return qemu, None


def qemu_version(binary):
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.splitlines()[0].strip() if out.stdout else ""


def make_boot_sector():
    """A 512-byte real-mode boot sector that forever increments the first word of
    each 4 KiB page in 0x10000-0x8ffff (128 pages), so RAM stays dirty.  Each
    pass toggles CR4.PSE, which makes TCG flush its TLB: without that, TCG logs
    a page dirty only when its TLB entry is refilled, and a tight loop would
    look idle to migration after the first bitmap sync.

        sti; xor ax,ax; mov ss,ax; mov sp,0x7c00
    outer: mov eax,cr4; xor eax,0x10; mov cr4,eax; mov bx,0x1000
    inner: mov es,bx; inc word [es:0]; add bx,0x100; cmp bx,0x9000; jb inner; jmp outer
    """
    code = bytes([
        0xFB, 0x31, 0xC0, 0x8E, 0xD0, 0xBC, 0x00, 0x7C,   # 0: sti .. mov sp
        0x0F, 0x20, 0xE0,                                 # 8: outer: mov eax,cr4
        0x66, 0x35, 0x10, 0x00, 0x00, 0x00,               # 11: xor eax,0x10 (PSE)
        0x0F, 0x22, 0xE0,                                 # 17: mov cr4,eax
        0xBB, 0x00, 0x10,                                 # 20: mov bx,0x1000
        0x8E, 0xC3,                                       # 23: inner: mov es,bx
        0x26, 0xFF, 0x06, 0x00, 0x00,                     # 25: inc word [es:0]
        0x81, 0xC3, 0x00, 0x01,                           # 30: add bx,0x100
        0x81, 0xFB, 0x00, 0x90,                           # 34: cmp bx,0x9000
        0x72, 0xEF,                                       # 38: jb inner (40-17=23)
        0xEB, 0xDE,                                       # 40: jmp outer (42-34=8)
    ])
    return code + bytes(510 - len(code)) + b"\x55\xaa"


def write_boot_drive(path, size=1 << 20):
    """A raw drive image of size bytes whose first sector is make_boot_sector()."""
    with open(path, "wb") as handle:
        handle.write(make_boot_sector())
        handle.truncate(size)
    return path
