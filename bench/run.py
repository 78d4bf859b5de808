#!/usr/bin/env python3
"""ChatVault against restic, rustic and borg on the same chat data, side by side.

    bench/run.py            about 1 GB (a SQLite message database + incompressible media)
    bench/run.py --quick    about 200 MB, for iteration
    bench/run.py --mib N    another size
    bench/run.py --network  ChatVault to Garage (S3) and WebDAV on loopback vs local disk
    bench/run.py --lan      ChatVault to `chatvault serve` on loopback vs curl uploading the same files
    bench/run.py --large    ChatVault alone at about 10 GB: time, CPU and peak RSS of every operation
    bench/run.py --curve 1400000,4200000,14000000
                            ChatVault alone: peak RSS as the blob count grows to a 100 GB export's
    bench/run.py --wide-folder 100000
                            ChatVault and restic on one folder of 100,000 photos

Installs what is missing (restic, borg, zstd from Debian; rustic with cargo install, cached
under the tools cache, scripts/tools-dir.sh), builds chatvault in release mode, generates the export with the
project's fixture generator, then for each tool: full backup, a "day later" backup (+1 %
messages written into the database in place, +12 media files), restore, and a full
read-back check. Writes bench/RESULTS.md.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The test tools cache (scripts/tools-dir.sh): outside the clone, each tool keyed by version.
TOOLS = Path(subprocess.check_output([str(ROOT / "scripts" / "tools-dir.sh")], text=True).strip())
PASSWORD = "bench password"
RUSTIC_VERSION = "0.11.4"


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True, **kw)


def ensure_tools(want_rustic=True, want_mobile=False):
    apt = [p for p, exe in [("restic", "restic"), ("borgbackup", "borg"), ("zstd", "zstd"), ("time", "/usr/bin/time")] if not shutil.which(exe)]
    if apt:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        sh(sudo + ["apt-get", "update", "-qq"])
        sh(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + apt, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    rustic = TOOLS / f"rustic-{RUSTIC_VERSION}" / "bin" / "rustic"
    if want_rustic and not rustic.exists():
        print(f"building rustic {RUSTIC_VERSION} (about 9 minutes, once)", flush=True)
        sh(["cargo", "install", "rustic-rs", "--version", RUSTIC_VERSION, "--locked", "--root", str(TOOLS / f"rustic-{RUSTIC_VERSION}")])
    sh(["cargo", "build", "--release", "--locked", "-p", "chatvault", "-p", "chatvault-fixtures", "--bin", "chatvault", "--bin", "gen-export",
        "--bin", "test-servers"], cwd=ROOT)
    if want_mobile:
        # The engine as phones build it (opt-level "s", LTO): what the battery pays.
        sh(["cargo", "build", "--profile", "mobile", "--locked", "-p", "chatvault", "--bin", "chatvault"], cwd=ROOT)
    target = Path(json.loads(subprocess.check_output(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT))["target_directory"])
    return {"chatvault": target / "release" / "chatvault", "chatvault-mobile": target / "mobile" / "chatvault",
            "gen": target / "release" / "gen-export", "rustic": rustic,
            "servers": target / "release" / "test-servers", "tools": TOOLS}


def measured(cmd, cwd=None, env=None):
    """Runs cmd under GNU time; returns (wall s, cpu s, peak RSS bytes). The disks are
    synced first: every tool starts with no other tool's writes still being flushed (the
    first tool's restore ran while the gigabytes every full backup had written went out)."""
    os.sync()
    out = tempfile.NamedTemporaryFile(delete=False)
    start = time.monotonic()
    full = ["/usr/bin/time", "-o", out.name, "-f", "%U %S %M"] + (["sh", "-c", cmd] if isinstance(cmd, str) else cmd)
    r = subprocess.run(full, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.monotonic() - start
    if r.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({r.returncode}): {r.stderr.decode()[-2000:]}")
    user, sys_, rss = Path(out.name).read_text().split()[-3:]
    os.unlink(out.name)
    return wall, float(user) + float(sys_), int(rss) * 1024


def apt_install_missing(command, package=None):
    """Installs the Debian package providing `command` unless it is on the PATH."""
    if not shutil.which(command):
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        sh(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package or command])


def fresh_export(work, bins, mib, reuse=False):
    """A work folder with a newly generated export of about `mib` MiB in it and nothing
    else. `reuse`: the export an earlier run generated at that size is taken again, when
    its generation completed (a 10 GB export takes about ten minutes to make)."""
    src = work / "wechat-export"
    made = work / f"export-complete-{mib}"
    if reuse and made.exists() and src.is_dir():
        for p in work.iterdir():
            if p not in (src, made):
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        print(f"reusing the {mib} MiB export in {src}", flush=True)
        return work, src
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"generating a {mib} MiB export", flush=True)
    sh([str(bins["gen"]), "--mib", str(mib), "--out", str(src)])
    made.touch()
    return work, src


def du(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def warm(path):
    for f in Path(path).rglob("*"):
        if f.is_file():
            with open(f, "rb") as h:
                while h.read(1 << 20):
                    pass


class Tool:
    def __init__(self, name, env, init, backup, restore, check):
        self.name, self.env, self._init, self._backup, self._restore, self._check = name, env, init, backup, restore, check


def repo_dir(name):
    """The repository folder of a tool (by its row name)."""
    return {"chatvault (no chat index)": "repo-chatvault-folder",
            "chatvault (phone build)": "repo-chatvault-mobile"}.get(name, f"repo-{name}")


def cv_env(work):
    """ChatVault's environment: its cache folder (where each source's last chat index is
    kept for the next backup, as restic keeps its cache) inside the bench's work folder."""
    return {**os.environ, "CHATVAULT_PASSWORD": PASSWORD, "XDG_CACHE_HOME": str(work / "cache")}


def tools(bins, work):
    env = {**cv_env(work), "RESTIC_PASSWORD": PASSWORD, "RUSTIC_PASSWORD": PASSWORD, "BORG_PASSPHRASE": PASSWORD,
           "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes", "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes"}
    cv = str(bins["chatvault"])
    cvm = str(bins["chatvault-mobile"])
    rustic = str(bins["rustic"])
    r = lambda n: str(work / f"repo-{n}")
    return [
        Tool("chatvault", env, [cv, "--repo", r("chatvault"), "init", "-q", "--no-recovery-key"],
             lambda src, n: [cv, "--repo", r("chatvault"), "backup", "-q", str(src)],
             lambda dst: [cv, "--repo", r("chatvault"), "restore", "-q", "latest", "--target", str(dst)],
             [cv, "--repo", r("chatvault"), "check", "-q", "--read-data"]),
        Tool("chatvault (no chat index)", env, [cv, "--repo", r("chatvault-folder"), "init", "-q", "--no-recovery-key"],
             lambda src, n: [cv, "--repo", r("chatvault-folder"), "backup", "-q", "--source", "folder", str(src)],
             lambda dst: [cv, "--repo", r("chatvault-folder"), "restore", "-q", "latest", "--target", str(dst)],
             [cv, "--repo", r("chatvault-folder"), "check", "-q", "--read-data"]),
        Tool("chatvault (phone build)", env, [cvm, "--repo", r("chatvault-mobile"), "init", "-q", "--no-recovery-key"],
             lambda src, n: [cvm, "--repo", r("chatvault-mobile"), "backup", "-q", str(src)],
             lambda dst: [cvm, "--repo", r("chatvault-mobile"), "restore", "-q", "latest", "--target", str(dst)],
             [cvm, "--repo", r("chatvault-mobile"), "check", "-q", "--read-data"]),
        Tool("restic", env, ["restic", "-q", "-r", r("restic"), "init"],
             lambda src, n: ["restic", "-q", "-r", r("restic"), "backup", str(src)],
             lambda dst: ["restic", "-q", "-r", r("restic"), "restore", "latest", "--target", str(dst)],
             ["restic", "-q", "-r", r("restic"), "check", "--read-data"]),
        Tool("rustic", env, [rustic, "-r", r("rustic"), "init"],
             lambda src, n: [rustic, "-r", r("rustic"), "backup", str(src)],
             lambda dst: [rustic, "-r", r("rustic"), "restore", "latest", str(dst)],
             [rustic, "-r", r("rustic"), "check", "--read-data"]),
        Tool("borg", env, ["borg", "init", "-e", "repokey", r("borg")],
             lambda src, n: ["borg", "create", "--compression", "zstd,3", f"{r('borg')}::s{n}", str(src)],
             lambda dst: f"mkdir -p {dst} && cd {dst} && borg extract {r('borg')}::s2",
             ["borg", "check", "--verify-data", r("borg")]),
        Tool("tar+zstd", env, None,
             lambda src, n: f"tar -C {src.parent} -cf - {src.name} | zstd -3 -T1 -q -f -o {work}/tar-{n}.tar.zst",
             lambda dst: f"mkdir -p {dst} && zstd -d -c -q {work}/tar-2.tar.zst | tar -C {dst} -xf -",
             None),
    ]


def floor(before_db, after_db, new_files, work):
    """Changed 4-KiB pages plus the new files, each compressed with zstd -3."""
    a, b = Path(before_db).read_bytes(), Path(after_db).read_bytes()
    pages = bytearray()
    for i in range(0, len(b), 4096):
        if a[i:i + 4096] != b[i:i + 4096]:
            pages += b[i:i + 4096]
    (work / "floor-pages").write_bytes(pages)
    total = 0
    for f in [work / "floor-pages"] + list(new_files):
        out = subprocess.run(["zstd", "-3", "-c", "-q", str(f)], check=True, stdout=subprocess.PIPE).stdout
        total += len(out)
    return total, len(pages)


def human(n):
    for unit in ["B", "KiB", "MiB", "GiB"]:
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="about 200 MB")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "chatvault-bench")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    ap.add_argument("--only", nargs="*", help="tools to run (default: all)")
    ap.add_argument("--network", action="store_true",
                    help="only measure ChatVault backing up to Garage (S3) and rclone's WebDAV server on "
                         "loopback against local disk, and update that section of RESULTS.md")
    ap.add_argument("--lan", action="store_true",
                    help="only measure ChatVault backing up to a `chatvault serve` receiver on loopback "
                         "against curl uploading the same files over HTTPS to it, and update that section")
    ap.add_argument("--whatsapp-db", type=int, metavar="MESSAGES", nargs="?", const=1_000_000,
                    help="only ChatVault backing up WhatsApp's Android folder with a plain msgstore.db of "
                         "MESSAGES messages (default 1,000,000): time, CPU and peak RSS; updates that section")
    ap.add_argument("--large", action="store_true",
                    help="only ChatVault, at --mib (default here 10000): the memory target at 10 GB; "
                         "updates that section of RESULTS.md")
    ap.add_argument("--reuse-export", action="store_true",
                    help="with --large: take again the export a run at that size generated "
                         "(and finished generating), instead of making it anew")
    ap.add_argument("--curve", metavar="BLOBS,BLOBS,…",
                    help="only ChatVault, at these numbers of blobs (e.g. 1400000,4200000,14000000: "
                         "10, 30 and 100 GB's worth) made cheaply from 512-byte database pages: peak RSS "
                         "of every operation; updates that section")
    ap.add_argument("--wide-folder", type=int, metavar="FILES", nargs="?", const=100_000,
                    help="only ChatVault and restic on one folder of FILES photos (default 100,000: a "
                         "heavy user's WhatsApp Images): time, CPU and peak RSS; updates that section")
    args = ap.parse_args()
    if args.wide_folder:
        return wide_folder(args)
    if args.curve:
        return curve(args)
    if args.whatsapp_db:
        return whatsapp_db(args)
    if args.large:
        return large(args)
    if args.network:
        return network(args)
    if args.lan:
        return lan(args)
    mib = 200 if args.quick else args.mib
    bins = ensure_tools(want_rustic=not args.only or "rustic" in args.only,
                        want_mobile=not args.only or "chatvault (phone build)" in args.only)
    work, src = fresh_export(args.work, bins, mib)
    data_bytes = du(src)
    db = src / "db" / "EnMicroMsg.db"
    shutil.copy(db, work / "db-before")
    media_before = set(p for p in src.rglob("*") if p.is_file())

    selected = [t for t in tools(bins, work) if not args.only or t.name in args.only]
    results = {t.name: {} for t in selected}
    for t in selected:
        print(f"{t.name}: full backup", flush=True)
        if t._init:
            sh(t._init, env=t.env, stdout=subprocess.DEVNULL)
        warm(src)
        res = results[t.name]
        res["full"] = measured(t._backup(src, 1), env=t.env)
        res["size"] = du(work / repo_dir(t.name)) if t.name != "tar+zstd" else (work / "tar-1.tar.zst").stat().st_size

    print("a day later: +1 % messages in place, +12 media files", flush=True)
    sh([str(bins["gen"]), "--day-later", "--out", str(src)])
    new_files = [p for p in src.rglob("*") if p.is_file() and p not in media_before]
    floor_bytes, changed_pages = floor(work / "db-before", db, new_files, work)

    for t in selected:
        print(f"{t.name}: day-later backup, restore, check", flush=True)
        warm(src)
        res = results[t.name]
        res["day"] = measured(t._backup(src, 2), env=t.env)
        if t.name == "tar+zstd":
            res["added"] = (work / "tar-2.tar.zst").stat().st_size
        else:
            res["added"] = du(work / repo_dir(t.name)) - res["size"]
        dst = work / f"restore-{t.name}"
        res["restore"] = measured(t._restore(dst), env=t.env)
        shutil.rmtree(dst, ignore_errors=True)
        res["check"] = measured(t._check, env=t.env) if t._check else None

    write_results(args.out, mib, data_bytes, db, changed_pages, floor_bytes, results)
    print(f"wrote {args.out}")


GARAGE_VERSION = "2.5.0"


def network(args):
    """Backs up the same export to local disk, Garage and WebDAV; writes the ratios."""
    mib = 200 if args.quick else args.mib
    bins = ensure_tools(want_rustic=False)
    apt_install_missing("rclone")
    garage = bins["tools"] / f"garage-{GARAGE_VERSION}" / "bin" / "garage"
    if not garage.exists():
        print(f"building garage {GARAGE_VERSION} (about 25 minutes, once)", flush=True)
        sh(["cargo", "install", "garage", "--version", GARAGE_VERSION, "--locked", "--no-default-features",
            "--features", "bundled-libs,sqlite", "--root", str(bins["tools"] / f"garage-{GARAGE_VERSION}")])
    work, src = fresh_export(args.work, bins, mib)
    servers = subprocess.Popen([str(bins["servers"]), str(work / "servers")], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, env={**os.environ, "CHATVAULT_GARAGE": str(garage)})
    try:
        info = json.loads(servers.stdout.readline())
        env = {**os.environ, "CHATVAULT_PASSWORD": PASSWORD, "AWS_ACCESS_KEY_ID": info["s3_key"],
               "AWS_SECRET_ACCESS_KEY": info["s3_secret"], "CHATVAULT_WEBDAV_USER": info["webdav_user"],
               "CHATVAULT_WEBDAV_PASSWORD": info["webdav_password"]}
        cv = str(bins["chatvault"])
        rows = []
        for name, location in [("local disk", str(work / "repo-local")), ("Garage (S3)", info["s3"]),
                               ("rclone WebDAV", info["webdav"])]:
            print(f"chatvault: full backup to {name}", flush=True)
            sh([cv, "--repo", location, "init", "-q", "--no-recovery-key"], env=env, stdout=subprocess.DEVNULL)
            warm(src)
            rows.append((name, measured([cv, "--repo", location, "backup", "-q", str(src)], env=env)))
    finally:
        servers.stdin.close()
        servers.wait()
    data = du(src)
    local = rows[0][1][0]
    table = "\n".join(
        f"| {name} | {w:.2f} s | {data / w / 2**20:.0f} MiB/s | {c:.2f} s | {human(rss)} | {w / local:.2f}× |"
        for name, (w, c, rss) in rows)
    section = f"""## Network destinations

Generated by `bench/run.py --network` on {datetime.date.today()}: ChatVault (release build)
backs up the same {human(data)} export to a local repository, to Garage {GARAGE_VERSION}
(S3; single node, sqlite metadata) and to rclone's WebDAV server, both on loopback and
sharing this machine's cores with the backup. Ratios are to the local disk.

| destination | full backup | throughput | CPU (chatvault) | peak RSS | ratio to local disk |
|---|---|---|---|---|---|
{table}

"""
    text = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(replace_section(text, "## Network destinations", section))
    print(f"wrote {args.out}")


def large(args):
    """ChatVault alone on a large export: every operation's time, CPU and peak RSS."""
    mib = args.mib if args.mib != 1000 else 10000
    bins = ensure_tools(want_rustic=False)
    work, src = fresh_export(args.work, bins, mib, reuse=args.reuse_export)
    data = du(src)
    cv = str(bins["chatvault"])
    repo = str(work / "repo")
    env = cv_env(work)
    sh([cv, "--repo", repo, "init", "-q", "--no-recovery-key"], env=env, stdout=subprocess.DEVNULL)
    def day_later():
        # The export is no longer as generated: not to be reused.
        (work / f"export-complete-{mib}").unlink(missing_ok=True)
        sh([str(bins["gen"]), "--day-later", "--out", str(src)])
    rows, sizes = every_operation(cv, work, repo, env, src, day_later, export=True)
    size, added = sizes[0], sizes[1] - sizes[0]
    limit = 64 * 2**20
    table = "\n".join(
        f"| {name} | {w:.1f} s | {data / w / 2**20:.0f} MiB/s | {c:.1f} s | {human(rss)} | {'met' if rss <= limit else '**not met**'} |"
        for name, (w, c, rss) in rows)
    section = f"""## ChatVault at {human(data)}

Generated by `bench/run.py --large` on {datetime.date.today()} — {machine()}. ChatVault
alone (the peers are measured side by side at 1 GB above; this run checks the memory
target at ten times the size): a WeChat-like export of {human(data)} ({mib} MiB requested),
its chat index included. Repository {human(size)}; the day later added {human(added)}.

| operation | time | throughput | CPU | peak RSS | ≤ 64 MiB |
|---|---|---|---|---|---|
{table}

"""
    text = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(replace_section(text, f"## ChatVault at ", section))
    shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {args.out}")


def every_operation(cv, work, repo, env, src, day_later, export):
    """ChatVault's full backup of `src`, `day_later()`'s changes backed up, restore, check
    --read-data, then `later_operations`: each measured, as (name, (wall, cpu, rss)) rows;
    and the repository's size after each backup."""
    rows = []
    print("full backup", flush=True)
    rows.append(("full backup", measured([cv, "--repo", repo, "backup", "-q", str(src)], env=env)))
    sizes = [du(repo)]
    day_later()
    print("day-later backup", flush=True)
    rows.append(("day-later backup", measured([cv, "--repo", repo, "backup", "-q", str(src)], env=env)))
    sizes.append(du(repo))
    print("restore", flush=True)
    dst = work / "restored"
    rows.append(("restore", measured([cv, "--repo", repo, "restore", "-q", "latest", "--target", str(dst)], env=env)))
    shutil.rmtree(dst, ignore_errors=True)
    print("check --read-data", flush=True)
    rows.append(("check --read-data", measured([cv, "--repo", repo, "check", "-q", "--read-data"], env=env)))
    return rows + later_operations(cv, work, repo, env, export), sizes


def later_operations(cv, work, repo, env, export):
    """Export (of the latest snapshot's chats), copy to a linked repository, then forget the
    first snapshot and prune: each measured."""
    rows = []
    if export:
        print("export (HTML)", flush=True)
        out = work / "export-html"
        rows.append(("export (HTML)", measured([cv, "--repo", repo, "export", "-q", "--out", str(out)], env=env)))
        shutil.rmtree(out, ignore_errors=True)
    print("copy", flush=True)
    copy = str(work / "repo-copy")
    sh([cv, "--repo", copy, "init", "-q", "--no-recovery-key", "--copy-chunker-params-from", repo],
       env={**env, "CHATVAULT_FROM_PASSWORD": PASSWORD}, stdout=subprocess.DEVNULL)
    rows.append(("copy (all snapshots)", measured([cv, "copy", "-q", "--from", repo, "--to", copy],
                                                  env={**env, "CHATVAULT_FROM_PASSWORD": PASSWORD,
                                                       "CHATVAULT_TO_PASSWORD": PASSWORD})))
    shutil.rmtree(copy, ignore_errors=True)
    first = json.loads(subprocess.check_output([cv, "--repo", repo, "--json", "snapshots"], env=env))[0]["id"]
    sh([cv, "--repo", repo, "forget", "-q", first], env=env, stdout=subprocess.DEVNULL)
    print("prune", flush=True)
    rows.append(("prune (first snapshot forgotten)", measured([cv, "--repo", repo, "prune", "-q"], env=env)))
    return rows


def page_files(folder, pages, seed):
    """Files that ChatVault cuts into 512-byte database pages (a SQLite header stating that
    page size, then distinct random pages): `pages` blobs for the price of pages × 512
    bytes. 14 M blobs, what a 100 GB export holds, take 7 GB."""
    folder.mkdir(parents=True, exist_ok=True)
    per_file = 2 * 1024 * 1024
    rng = __import__("random").Random(seed)
    n = 0
    while n < pages:
        count = min(per_file, pages - n)
        with open(folder / f"pages-{n // per_file:03}.db", "wb") as f:
            head = bytearray(os.urandom(512))
            head[:16] = b"SQLite format 3\0"
            head[16:18] = (512).to_bytes(2, "big")
            f.write(head)
            left = count - 1
            while left > 0:
                k = min(left, 128 * 1024)
                f.write(rng.randbytes(k * 512))
                left -= k
        n += count


def day_later_pages(folder, fraction, seed):
    """Rewrites `fraction` of the pages of every page file in place."""
    rng = __import__("random").Random(seed)
    for f in sorted(folder.glob("pages-*.db")):
        pages = f.stat().st_size // 512
        with open(f, "r+b") as h:
            for _ in range(max(1, int(pages * fraction))):
                h.seek(512 * rng.randrange(1, pages))
                h.write(rng.randbytes(512))


def curve(args):
    """Peak RSS of every operation as the number of blobs grows to a 100 GB export's."""
    counts = [int(c) for c in args.curve.split(",")]
    bins = ensure_tools(want_rustic=False)
    cv = str(bins["chatvault"])
    results = []
    for count in counts:
        work = args.work / "curve"
        shutil.rmtree(work, ignore_errors=True)
        env = cv_env(work)
        src = work / "pages"
        print(f"{count:,} blobs: writing {human(count * 512)} of page files", flush=True)
        page_files(src, count, count)
        repo = str(work / "repo")
        sh([cv, "--repo", repo, "init", "-q", "--no-recovery-key"], env=env, stdout=subprocess.DEVNULL)
        rows, _ = every_operation(cv, work, repo, env, src, lambda: day_later_pages(src, 0.01, count + 1), export=False)
        results.append((count, rows))
        shutil.rmtree(work, ignore_errors=True)
    names = [name for name, _ in results[0][1]]
    limit = 64 * 2**20
    header = "| operation | " + " | ".join(f"{c / 1e6:.1f} M blobs" for c, _ in results) + " | ≤ 64 MiB |"
    lines = [header, "|---|" + "---|" * len(results) + "---|"]
    for i, name in enumerate(names):
        peaks = [rows[i][1][2] for _, rows in results]
        cells = " | ".join(f"{human(r)} ({rows[i][1][0]:.0f} s)" for (_, rows), r in zip(results, peaks))
        lines.append(f"| {name} | {cells} | {'met' if max(peaks) <= limit else '**not met**'} |")
    section = f"""## Memory as the repository grows to 100 GB's worth of blobs

Generated by `bench/run.py --curve {args.curve}` on {datetime.date.today()} — {machine()}.
What grows with a repository is the number of blobs, not their bytes: a WeChat export of
9 GiB is 1.4 M blobs (its database cut into 4 KiB pages, media into 1 MiB chunks), so
100 GB is about 14 M. This run makes that many blobs cheaply: files with a SQLite header
stating 512-byte pages, which ChatVault cuts page by page, filled with distinct random
pages (14 M blobs in 7 GB). Each size: full backup, a day later (1 % of pages rewritten in
place), restore, check --read-data, copy to a linked repository, forget the first snapshot
and prune. Peak RSS (wall time):

{chr(10).join(lines)}

"""
    text = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(replace_section(text, "## Memory as the repository grows", section))
    print(f"wrote {args.out}")


def photo_files(folder, first, count):
    """`count` small photo-named files (4 KiB of random bytes each) in `folder`, numbered
    from `first`: what a folder's size costs is its entries, not their bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(first, first + count):
        (folder / f"IMG-2025{i % 12 + 1:02}{i % 28 + 1:02}-WA{i:06}.jpg").write_bytes(os.urandom(4096))


def wide_folder(args):
    """ChatVault and restic on one folder of many files, side by side."""
    files = args.wide_folder
    bins = ensure_tools(want_rustic=False)
    cv = str(bins["chatvault"])
    work = args.work / "wide-folder"
    shutil.rmtree(work, ignore_errors=True)
    src = work / "WhatsApp" / "Media" / "WhatsApp Images"
    print(f"writing {files:,} files", flush=True)
    photo_files(src, 0, files)
    env = {**cv_env(work), "RESTIC_PASSWORD": PASSWORD}
    repos = {"chatvault": str(work / "repo-chatvault"), "restic": str(work / "repo-restic")}
    sh([cv, "--repo", repos["chatvault"], "init", "-q", "--no-recovery-key"], env=env, stdout=subprocess.DEVNULL)
    sh(["restic", "-q", "-r", repos["restic"], "init"], env=env, stdout=subprocess.DEVNULL)
    backup = {"chatvault": [cv, "--repo", repos["chatvault"], "backup", "-q", "--source", "folder", str(src)],
              "restic": ["restic", "-q", "-r", repos["restic"], "backup", str(src)]}
    restore = {"chatvault": lambda d: [cv, "--repo", repos["chatvault"], "restore", "-q", "latest", "--target", str(d)],
               "restic": lambda d: ["restic", "-q", "-r", repos["restic"], "restore", "latest", "--target", str(d)]}
    check = {"chatvault": [cv, "--repo", repos["chatvault"], "check", "-q", "--read-data"],
             "restic": ["restic", "-q", "-r", repos["restic"], "check", "--read-data"]}
    day = max(files // 100, 1)
    rows = {}

    def step(name, cmd_of):
        print(name, flush=True)
        rows[name] = {tool: measured(cmd_of(tool), env=env) for tool in repos}

    step("backup", lambda t: backup[t])
    step("backup again, unchanged", lambda t: backup[t])
    photo_files(src, files, day)
    step(f"a day later (+{day:,} files)", lambda t: backup[t])

    def restored(tool):
        dst = work / f"restored-{tool}"
        shutil.rmtree(dst, ignore_errors=True)
        return restore[tool](dst)

    step("restore", restored)
    step("check --read-data", lambda t: check[t])
    limit = 64 * 2**20
    lines = []
    for name, by in rows.items():
        (w, c, rss), (rw, rc, rrss) = by["chatvault"], by["restic"]
        lines.append(f"| {name} | {w:.1f} s ({w / rw:.2f}×) | {c:.1f} s | {human(rss)} | "
                     f"{'met' if rss <= limit else '**not met**'} | {rw:.1f} s | {rc:.1f} s | {human(rrss)} |")
    table = "\n".join(lines)
    section = f"""## One folder of {files:,} files

Generated by `bench/run.py --wide-folder {files}` on {datetime.date.today()} — {machine()}.
ChatVault (`--source folder`) and restic, side by side, on one folder of {files:,}
photo-named files of 4 KiB (a heavy user's `WhatsApp Images`; the bytes are few so that what is
measured is the folder's entries). A day later adds {day:,} files. Ratios are to restic.

| operation | ChatVault | CPU | peak RSS | ≤ 64 MiB | restic | CPU | peak RSS |
|---|---|---|---|---|---|---|---|
{table}

"""
    text = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(replace_section(text, "## One folder of ", section))
    shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {args.out}")


def whatsapp_db(args):
    """ChatVault backing up a large msgstore.db (the chat index built from it): time, CPU, RSS."""
    bins = ensure_tools(want_rustic=False)
    work = args.work / "whatsapp-db"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    src = work / "WhatsApp"
    print(f"generating a msgstore.db of {args.whatsapp_db:,} messages", flush=True)
    sh([str(bins["gen"]), "--kind", "whatsapp-db", "--messages", str(args.whatsapp_db), "--out", str(src)])
    data = du(src)
    db_bytes = (src / "Databases" / "msgstore.db").stat().st_size
    cv = str(bins["chatvault"])
    repo = str(work / "repo")
    env = cv_env(work)
    sh([cv, "--repo", repo, "init", "-q", "--no-recovery-key"], env=env, stdout=subprocess.DEVNULL)
    rows = []
    print("backup", flush=True)
    rows.append(("backup (read + chat index)", measured([cv, "--repo", repo, "backup", "-q", str(src)], env=env)))
    print("second backup (nothing changed)", flush=True)
    rows.append(("backup again, unchanged", measured([cv, "--repo", repo, "backup", "-q", str(src)], env=env)))
    day = max(args.whatsapp_db // 100, 1)

    def a_day_later(n):
        """+1 % messages (copies of the newest text messages, a day later)."""
        db = sqlite3.connect(src / "Databases" / "msgstore.db")
        db.execute(
            "INSERT INTO message (chat_row_id, from_me, key_id, sender_jid_row_id, status, broadcast,"
            " recipient_count, origin, timestamp, received_timestamp, message_type, text_data,"
            " starred, lookup_tables, sort_id)"
            " SELECT chat_row_id, from_me, key_id || ?1, sender_jid_row_id, status, 0, 0, 0,"
            " timestamp + 86400000 * ?2, received_timestamp, 0, text_data, 0, 0, sort_id"
            " FROM message WHERE chat_row_id > 0 AND message_type = 0 ORDER BY _id DESC LIMIT ?3",
            (f"-d{n}", n, day))
        db.commit()
        db.close()

    a_day_later(1)
    print("a day later", flush=True)
    rows.append((f"a day later (+{day:,} messages)", measured([cv, "--repo", repo, "backup", "-q", str(src)], env=env)))
    a_day_later(2)
    print("a day later without this device's memory of the rows", flush=True)
    rows.append((f"a day later (+{day:,} messages), `--no-cache` (every row parsed)",
                 measured([cv, "--no-cache", "--repo", repo, "backup", "-q", str(src)], env=env)))
    print("search", flush=True)
    rows.append(("search", measured([cv, "--repo", repo, "search", "-q", "ünïcödé", "--limit", "10"], env=env)))
    limit = 64 * 2**20
    table = "\n".join(
        f"| {name} | {w:.1f} s | {c:.1f} s | {human(rss)} | {'met' if rss <= limit else '**not met**'} |"
        for name, (w, c, rss) in rows)
    section = f"""## WhatsApp database, {args.whatsapp_db:,} messages

Generated by `bench/run.py --whatsapp-db {args.whatsapp_db}` on {datetime.date.today()} — {machine()}.
ChatVault alone (no peer reads WhatsApp's database): a plain `msgstore.db` of
{human(db_bytes)} written by `gen-export --kind whatsapp-db` (four chats, every kind of row),
{human(data)} with its media. The backup reads every message into the chat index; a day
later (+1 % messages) the device's memory of the rows (`chatvault::chat::source_rows`)
lets it parse only the new ones, and the same day without it (`--no-cache`) parses all.

| operation | time | CPU | peak RSS | ≤ 64 MiB |
|---|---|---|---|---|
{table}

"""
    text = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(replace_section(text, "## WhatsApp database, ", section))
    shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {args.out}")


def lan(args):
    """Backs up the export to a receiver on loopback; curl uploads the same files to it."""
    mib = 200 if args.quick else args.mib
    bins = ensure_tools(want_rustic=False)
    apt_install_missing("curl")
    work, src = fresh_export(args.work, bins, mib)
    cv = str(bins["chatvault"])
    uri_file = work / "pair.uri"
    serve = subprocess.Popen([cv, "--json", "serve", "--dir", str(work / "received"), "--listen", "127.0.0.1:0",
                              "--no-mdns", "--pair-uri-file", str(uri_file)], stdout=subprocess.PIPE)
    try:
        listening = json.loads(serve.stdout.readline())
        address = listening["addresses"][0]
        env = cv_env(work)

        def paired(name):
            identity = work / f"{name}.pem"
            out = subprocess.check_output([cv, "--json", "pair", uri_file.read_text().strip(), "--name", name],
                                          env={**env, "CHATVAULT_LAN_IDENTITY": str(identity)})
            return identity, json.loads(out)["location"]

        rows = []
        # The chat index is left out (`--source folder`): it costs the same on every
        # destination and this compares transfers.
        local = str(work / "repo-local")
        sh([cv, "--repo", local, "init", "-q", "--no-recovery-key"], env=env, stdout=subprocess.DEVNULL)
        warm(src)
        print("chatvault: full backup to local disk", flush=True)
        rows.append(("ChatVault → local disk", measured([cv, "--repo", local, "backup", "-q", "--source", "folder", str(src)], env=env)))
        identity, location = paired("bench-phone")
        phone_env = {**env, "CHATVAULT_LAN_IDENTITY": str(identity)}
        sh([cv, "--repo", location, "init", "-q", "--no-recovery-key"], env=phone_env, stdout=subprocess.DEVNULL)
        warm(src)
        print("chatvault: full backup to the receiver", flush=True)
        rows.append(("ChatVault → `chatvault serve`", measured([cv, "--repo", location, "backup", "-q", "--source", "folder", str(src)], env=phone_env)))
        lan_bytes = du(work / "received" / "bench-phone")
        # curl: the same files, one HTTPS PUT each, over kept-alive connections (one curl
        # process per 200 files), to the same receiver with a paired certificate.
        curl_identity, _ = paired("bench-curl")
        files = sorted(f for f in src.rglob("*") if f.is_file())
        script = work / "curl.sh"
        lines = ["set -e"]
        for start in range(0, len(files), 200):
            parts = [f"curl -sS -k --fail --cert {curl_identity} --key {curl_identity} -o /dev/null"]
            for i, f in enumerate(files[start:start + 200], start):
                parts.append(f"-T '{f}' https://{address}/v1/objects/data/{i:08x}")
            lines.append(" ".join(parts))
        script.write_text("\n".join(lines) + "\n")
        warm(src)
        print("curl: the same files over HTTPS", flush=True)
        rows.append(("curl HTTPS PUT of the same files", measured(["sh", str(script)])))
    finally:
        serve.kill()
        serve.wait()
    data = du(src)
    curl_wall = rows[2][1][0]
    table = "\n".join(
        f"| {name} | {w:.2f} s | {data / w / 2**20:.0f} MiB/s | {c:.2f} s | {human(rss)} | {w / curl_wall:.2f}× |"
        for name, (w, c, rss) in rows)
    section = f"""## LAN (phone → PC)

Generated by `bench/run.py --lan` on {datetime.date.today()}: the same {human(data)} export
({len(files)} files) backed up by ChatVault (release build, `--source folder`: the chat
index costs the same everywhere) to local disk and to a `chatvault serve` receiver on
loopback (pinned mutual TLS, HTTP/1.1), and uploaded by curl as one HTTPS PUT per file to
the same receiver (client certificate, kept-alive connections). ChatVault sent
{human(lan_bytes)} (compressed, deduplicated, encrypted packs). Client, receiver and curl
share this machine's cores. Ratios are to curl.

| what | time | throughput (export bytes) | CPU (client) | peak RSS (client) | ratio to curl |
|---|---|---|---|---|---|
{table}

"""
    text = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(replace_section(text, "## LAN (phone → PC)", section))
    print(f"wrote {args.out}")


def section_of(text, heading):
    """The section under `heading` in `text`, up to the next `## ` heading ("" if none)."""
    if heading not in text:
        return ""
    start = text.index(heading)
    rest = text[start + len(heading):]
    end = start + len(heading) + (rest.index("\n## ") + 1 if "\n## " in rest else len(rest))
    return text[start:end]


def replace_section(text, heading, section):
    """`text` with the section under `heading` replaced by `section` (or added before the
    History)."""
    old = section_of(text, heading)
    if old:
        return text.replace(old, section, 1)
    if "## History" in text:
        i = text.index("## History")
        return text[:i] + section + text[i:]
    return text + "\n" + section


def machine():
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Linux {platform.release()}, data in page cache"


def write_results(out, mib, data_bytes, db, changed_pages, floor_bytes, results):
    ref = results.get("restic")
    rows = []
    def ratio(v, key, idx=0):
        if not ref or not ref.get(key):
            return ""
        base = ref[key][idx] if isinstance(ref[key], tuple) else ref[key]
        return f" ({v / base:.2f}×)" if base else ""
    for name, r in results.items():
        f, d, rs, c = r["full"], r["day"], r["restore"], r.get("check")
        rows.append(
            f"| {name} | {f[0]:.2f} s{ratio(f[0], 'full')} | {f[1]:.2f} s | {human(f[2])} | {human(r['size'])}{ratio(r['size'], 'size')} "
            f"| {d[0]:.2f} s{ratio(d[0], 'day')} | {human(r['added'])}{ratio(r['added'], 'added')} ({r['added'] / floor_bytes:.1f}× floor) "
            f"| {rs[0]:.2f} s{ratio(rs[0], 'restore')} | {human(rs[2])} | {f'{c[0]:.2f} s' if c else '-'} | {human(max(f[2], d[2], rs[2], c[2] if c else 0))} |"
        )
    cv = results.get("chatvault")
    folder = results.get("chatvault (no chat index)")
    targets = []
    if cv and ref:
        rss = lambda r: max(r["full"][2], r["day"][2], r["restore"][2], r["check"][2])
        checks = [
            ("day-later bytes added ≤ 1.5 × floor", cv["added"] <= 1.5 * floor_bytes, f"{cv['added'] / floor_bytes:.2f} × floor"),
            ("day-later backup ≤ 0.25 × restic (wall)", cv["day"][0] <= 0.25 * ref["day"][0], f"{cv['day'][0] / ref['day'][0]:.2f} × restic"),
            ("day-later backup ≤ 0.25 × restic (CPU)", cv["day"][1] <= 0.25 * ref["day"][1], f"{cv['day'][1] / ref['day'][1]:.2f} × restic"),
            ("full backup with the chat index ≤ 1.0 × restic", cv["full"][0] <= ref["full"][0], f"{cv['full'][0] / ref['full'][0]:.2f} × restic"),
        ]
        if folder:
            checks.append(("full backup without the chat index ≤ 0.6 × restic", folder["full"][0] <= 0.6 * ref["full"][0],
                           f"{folder['full'][0] / ref['full'][0]:.2f} × restic"))
        checks += [
            ("restore ≤ 0.7 × restic", cv["restore"][0] <= 0.7 * ref["restore"][0], f"{cv['restore'][0] / ref['restore'][0]:.2f} × restic"),
            ("repository size ≤ 1.0 × restic (chat index included)", cv["size"] <= ref["size"], f"{cv['size'] / ref['size']:.3f} × restic"),
            ("peak RSS ≤ 64 MiB in every operation", rss(cv) <= 64 * 2**20, human(rss(cv))),
        ]
        gb = data_bytes / 1e9
        targets = [f"| {n} | {'met' if ok else '**not met**'} | {v} |" for n, ok, v in checks]
        targets.append(f"| CPU time per GB (full backup) | reported | {cv['full'][1] / gb:.2f} s/GB (restic {ref['full'][1] / gb:.2f} s/GB) |")
        phone = results.get("chatvault (phone build)")
        if phone:
            targets.append(f"| CPU per day-later backup, phone build (what the battery pays) | reported | "
                           f"{phone['day'][1]:.2f} s (release build {cv['day'][1]:.2f} s, restic {ref['day'][1]:.2f} s) |")
    history = ""
    network_section = ""
    if out.exists():
        text = out.read_text()
        if "## History" in text:
            history = text[text.index("## History"):]
        # Every section the other modes wrote (network, LAN, large, WhatsApp, curve) stays.
        network_section = "".join(
            section_of(text, "## " + part.split("\n", 1)[0])
            for part in text.split("\n## ")[1:]
            if not part.startswith(("Targets", "History")))
    out.write_text(f"""# Benchmark results

Generated by `bench/run.py` on {datetime.date.today()} — {machine()}.

Data: a WeChat-like export of {human(data_bytes)} ({mib} MiB requested): a SQLite message
database of {human(db.stat().st_size)} with four indexes (4 KiB pages) and incompressible
media. "Day later": +1 % messages written into the database in place, +12 media files
(about 8 MiB). Floor for the day-later backup: the {human(changed_pages)} of changed pages
plus the new files, each zstd -3 compressed = **{human(floor_bytes)}**.

One run of each tool on identical data, side by side; ratios in parentheses are to restic.

| tool | full backup | CPU | peak RSS | repo size | day-later | added | restore | restore RSS | check --read-data | max RSS |
|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

## Targets

| target | status | measured |
|---|---|---|
{chr(10).join(targets)}

{network_section}{history or '## History' + chr(10)}""")


if __name__ == "__main__":
    sys.exit(main())
