#!/usr/bin/env python3
"""`meson install` into a DESTDIR: configure a fresh build of the source tree
with fixed options, install it, and compare what lands with
installed-files.txt; then check that the installed pieces fit together.

usage: check-install.py SOURCE_ROOT [WORKDIR]
WORKDIR (default: a temporary directory) is kept when given, for a look.
"""
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OPTIONS = ["--prefix=/usr", "--libdir=lib", "--sysconfdir=/etc",
           "--buildtype=plain", "-Dqemu_ga_compat=true",
           "-Dsystemdsystemunitdir=/lib/systemd/system",
           "-Dudevrulesdir=/lib/udev/rules.d"]
PORT = "/dev/virtio-ports/org.qemu.guest_agent.0"


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n"
                         f"{r.stdout}{r.stderr}")
    return r


def expected(src):
    lines = set()
    with open(os.path.join(HERE, "installed-files.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            m = re.match(r"\[if (\S+)\] (.*)", line)
            if m:
                if not os.path.exists(os.path.join(src, m.group(1))):
                    continue
                line = m.group(2)
            lines.add(line)
    return lines


def actual(root):
    """The tree as lines of installed-files.txt's form."""
    lines = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = "/" + os.path.relpath(dirpath, root)
        if not dirnames and not filenames and dirpath != root:
            lines.add(f"dir {rel}")
        for name in filenames + [d for d in dirnames
                                 if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            relp = os.path.normpath(os.path.join(rel, name))
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                lines.add(f"link {relp} -> {os.readlink(path)}")
            else:
                lines.add(f"{stat.S_IMODE(st.st_mode):04o} {relp}")
    return lines


def unit_escape(path):
    """systemd-escape --path, for the device unit name."""
    out = []
    for i, ch in enumerate(path.strip("/")):
        if ch == "/":
            out.append("-")
        elif ch.isalnum() or ch in ":_" or (ch == "." and i > 0):
            out.append(ch)
        else:
            out.append("\\x%02x" % ord(ch))
    return "".join(out)


def check_tree(src, root, failures):
    want, have = expected(src), actual(root)
    for line in sorted(want - have):
        failures.append(f"not installed: {line}")
    for line in sorted(have - want):
        failures.append(f"installed but not in installed-files.txt: {line}")


def check_pieces(root, failures):
    qgad = os.path.join(root, "usr/sbin/qgad")
    version = run([qgad, "--version"]).stdout.strip()
    print(f"installed qgad --version: {version}")
    if not re.fullmatch(r"QEMU Guest Agent \S+ \(qgad \S+\)", version):
        failures.append(f"unexpected --version line: {version!r}")
    compat = os.path.join(root, "usr/sbin/qemu-ga")
    if os.path.realpath(compat) != os.path.realpath(qgad):
        failures.append("usr/sbin/qemu-ga does not resolve to qgad")

    unit = open(os.path.join(root, "lib/systemd/system/qgad.service")).read()
    m = re.search(r"^ExecStart=(\S+)", unit, re.M)
    if not m or m.group(1) != "/usr/sbin/qgad":
        failures.append("qgad.service: ExecStart is not /usr/sbin/qgad")
    device = unit_escape(PORT) + ".device"
    for key in ("BindsTo", "After"):
        if not re.search(rf"^{key}={re.escape(device)}$", unit, re.M):
            failures.append(f"qgad.service: {key} is not {device}")
    if re.search(r"^\[Install\]", unit, re.M):
        failures.append("qgad.service: has an [Install] section; the device "
                        "starts it")

    rules = open(os.path.join(root, "lib/udev/rules.d/60-qgad.rules")).read()
    rule = rules.replace("\\\n", " ")
    m = re.search(r'ENV\{SYSTEMD_WANTS\}\+?="([^"]+)"', rule)
    if not m or not os.path.exists(
            os.path.join(root, "lib/systemd/system", m.group(1))):
        failures.append("60-qgad.rules: SYSTEMD_WANTS names no installed unit")
    name = os.path.basename(PORT)
    for needle in ('SUBSYSTEM=="virtio-ports"', f'ATTR{{name}}=="{name}"',
                   'TAG+="systemd"'):
        if needle not in rule:
            failures.append(f"60-qgad.rules: no {needle}")

    example = os.path.join(root, "usr/share/doc/qgad/examples/qemu-ga.conf.example")
    env = dict(os.environ, QGA_CONF="/nonexistent")
    dump = run([qgad, "-c", example, "-D", "-F", "-l", "/dev/null"],
               env=env).stdout
    text = open(example).read()
    for key in re.findall(r"^([a-z-]+)=", dump, re.M):
        if not re.search(rf"^#?{re.escape(key)}=", text, re.M):
            failures.append(f"qemu-ga.conf.example: no line for key {key}")


def check_units(root, failures):
    """systemd-analyze verify on copies whose ExecStart points into DESTDIR
    (it checks that the program exists). Any output counts: it returns 0
    for settings it cannot parse and ignores."""
    if not shutil.which("systemd-analyze"):
        print("systemd-analyze verify: skipped, no systemd-analyze here")
        return
    qgad = os.path.join(root, "usr/sbin/qgad")
    units = [os.path.join(root, "lib/systemd/system/qgad.service")]
    ex = os.path.join(root, "usr/share/doc/qgad/examples")
    units += [os.path.join(ex, n) for n in ("qgad-vsock.socket",
                                             "qgad-vsock.service")]
    with tempfile.TemporaryDirectory() as d:
        copies = []
        for u in units:
            text = open(u).read().replace("/usr/sbin/qgad", qgad)
            copies.append(os.path.join(d, os.path.basename(u)))
            with open(copies[-1], "w") as f:
                f.write(text)
        r = subprocess.run(["systemd-analyze", "verify", "--man=no"] + copies,
                           capture_output=True, text=True)
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0 or out:
        failures.append(f"systemd-analyze verify ({r.returncode}): {out}")
    else:
        print(f"systemd-analyze verify: {len(units)} units clean")


def main():
    src = os.path.abspath(sys.argv[1])
    work = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="qga-install-")
    build, root = os.path.join(work, "build"), os.path.join(work, "root")
    shutil.rmtree(root, ignore_errors=True)
    failures = []
    try:
        # The enclosing meson test's environment must not leak into the
        # nested build.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MESON")}
        if not os.path.exists(os.path.join(build, "meson-private")):
            run(["meson", "setup", build, src] + OPTIONS, env=env)
        # Build only what gets installed, not the test programs.
        targets = json.loads(run(["meson", "introspect", "--targets", build],
                                 env=env).stdout)
        outputs = [os.path.relpath(f, build) for t in targets
                   if t.get("installed") for f in t["filename"]]
        run(["ninja", "-C", build] + outputs, env=env)
        run(["meson", "install", "-C", build, "--no-rebuild",
             "--destdir", root], env=env)
        check_tree(src, root, failures)
        check_pieces(root, failures)
        check_units(root, failures)
    finally:
        if len(sys.argv) <= 2:
            shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print("FAIL:", f)
    print(f"{len(expected(src))} files expected; "
          f"{'FAILED' if failures else 'all installed as listed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
