"""Build the three distributions' wheels and check what a user would install.

For each of ``.``, ``backends/torch`` and ``backends/keras`` (a copy of its sources, so the
working tree is not written to): ``pip wheel --no-deps --no-build-isolation``, then, read
from the wheel itself:

- the name is the one in its ``pyproject.toml`` and one of ours (``unidl._distributions``);
- every requirement on another of our distributions, extras included, has a lower and an
  upper bound (``>=0.x,<0.y``): an unbounded one could resolve to a foreign release;
- the keras backend requires exactly one TensorFlow build on every platform;
- the package ships ``py.typed``;
- the entry points: the ``unidl`` command and the pytest plugin for the core, the
  ``unidl.backends`` entry for each backend.

Prints one line per wheel; exits 1 with the reasons if any check fails. Run by
``scripts/test.sh``.
"""

from __future__ import annotations

import configparser
import email.parser
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import tomllib
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from unidl._distributions import BACKEND_DISTRIBUTIONS, CORE_DISTRIBUTION  # noqa: E402

OURS = {CORE_DISTRIBUTION, *BACKEND_DISTRIBUTIONS.values()}
# project dir -> (import package, {entry-point group: {name: value}})
EXPECTED = {
    ".": ("unidl", {"console_scripts": {"unidl": "unidl.cli:main"},
                    "pytest11": {"unidl.testing.plugin": "unidl.testing.plugin"}}),
    "backends/torch": ("unidl_torch",
                       {"unidl.backends": {"torch": "unidl_torch.backend:TorchBackend"}}),
    "backends/keras": ("unidl_keras",
                       {"unidl.backends": {"keras": "unidl_keras.backend:KerasBackend"}}),
}
_SKIP = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", "tests")


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _build(project: str, package: str, work: Path) -> Path:
    """The wheel of ``project``, built from a copy of its pyproject, README and package."""
    src = ROOT / project
    copy = work / "src" / project.replace("/", "-")
    copy.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        if (src / name).is_file():
            shutil.copy2(src / name, copy / name)
    shutil.copytree(src / package, copy / package, ignore=_SKIP)
    out = work / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check", "-w", str(out),
                    str(copy)], check=True, capture_output=True, text=True)
    (wheel,) = [w for w in out.glob("*.whl")
                if _norm(w.name.split("-")[0]) == _norm(_pyproject_name(project))]
    return wheel


def _pyproject_name(project: str) -> str:
    with open(ROOT / project / "pyproject.toml", "rb") as f:
        return str(tomllib.load(f)["project"]["name"])


def check_wheel(wheel: Path, project: str) -> list[str]:
    """What is wrong with ``wheel`` (built from ``project``); empty when nothing."""
    package, entry_points = EXPECTED[project]
    problems: list[str] = []
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        (meta_path,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = email.parser.Parser().parsestr(z.read(meta_path).decode())
        ep_paths = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        eps = configparser.ConfigParser(delimiters=("=",))
        eps.optionxform = str  # type: ignore[assignment,method-assign]
        if ep_paths:
            eps.read_string(z.read(ep_paths[0]).decode())
    name = meta["Name"]
    if _norm(name) != _norm(_pyproject_name(project)) or _norm(name) not in OURS:
        problems.append(f"name {name!r}: expected {_pyproject_name(project)!r}, one of "
                        f"{sorted(OURS)}")
    for text in meta.get_all("Requires-Dist") or []:
        req = Requirement(text)
        if _norm(req.name) in OURS:
            ops = {s.operator for s in req.specifier}
            if not ops & {">=", ">", "~=", "=="} or not ops & {"<", "<=", "~=", "=="}:
                problems.append(f"requirement {text!r} on our own distribution is not "
                                "bounded below and above (>=0.x,<0.y)")
    if project == "backends/keras":
        problems += _tensorflow_everywhere(meta.get_all("Requires-Dist") or [])
    if f"{package}/py.typed" not in names:
        problems.append(f"{package}/py.typed is missing")
    for group, wanted in entry_points.items():
        found = dict(eps.items(group)) if eps.has_section(group) else {}
        for ep, value in wanted.items():
            if found.get(ep, "").strip() != value:
                problems.append(f"entry point [{group}] {ep} = {value} missing (found "
                                f"{found or 'none'})")
    return problems


#: Platforms TensorFlow publishes wheels for: the keras backend must require one build on each.
PLATFORMS = [{"sys_platform": "linux", "platform_machine": "x86_64"},
             {"sys_platform": "linux", "platform_machine": "aarch64"},
             {"sys_platform": "darwin", "platform_machine": "arm64"},
             {"sys_platform": "win32", "platform_machine": "AMD64"}]


def _tensorflow_everywhere(requires: list[str]) -> list[str]:
    """The keras backend requires exactly one TensorFlow build on every platform (without
    it, `pip install unidl-keras` leaves a backend that cannot load)."""
    problems = []
    for env in PLATFORMS:
        builds = [r.name for r in map(Requirement, requires)
                  if r.name in ("tensorflow", "tensorflow-cpu")
                  and (r.marker is None or r.marker.evaluate({**env, "extra": ""}))]
        if len(builds) != 1:
            problems.append(f"on {env['sys_platform']}/{env['platform_machine']} it requires "
                            f"{builds or 'no TensorFlow'}; exactly one build is needed")
    return problems


def main() -> int:
    failed = False
    with tempfile.TemporaryDirectory(prefix="unidl-wheels-") as tmp:
        for project, (package, _) in EXPECTED.items():
            try:
                wheel = _build(project, package, Path(tmp))
            except subprocess.CalledProcessError as e:
                print(f"{project}: the wheel does not build:\n{e.stdout}{e.stderr}")
                failed = True
                continue
            problems = check_wheel(wheel, project)
            failed |= bool(problems)
            status = "ok" if not problems else "FAILED: " + "; ".join(problems)
            print(f"wheel {wheel.name}: {status}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
