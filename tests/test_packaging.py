"""The distributions we publish, and every install hint naming them.

The distribution names are read from the three ``pyproject.toml`` files; every
``pip install`` in the docs, the messages and the scripts that names a unidl distribution
must name one of them (the name ``unidl`` on the public package index belongs to an
unrelated project, and a made-up ``unidl-<x>`` could be registered by anyone). The wheels
themselves are built and checked by ``scripts/check_wheels.py`` in ``scripts/test.sh``;
here its checks are shown to catch what they are for.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
import tomllib

import unidl
from unidl import registry
from unidl._distributions import BACKEND_DISTRIBUTIONS, CORE_DISTRIBUTION, install_hint

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = {".": "core", "backends/torch": "torch", "backends/keras": "keras"}


def _name(project: str) -> str:
    with open(ROOT / project / "pyproject.toml", "rb") as f:
        return str(tomllib.load(f)["project"]["name"])


BUILT = {_name(p) for p in PROJECTS}
# examples/unidl-numpy is the backend authors' worked example, installed from its path
EXAMPLE = {_name("examples/unidl-numpy")}


def test_the_hint_module_names_the_distributions_we_build() -> None:
    assert _name(".") == CORE_DISTRIBUTION
    assert {b: _name(f"backends/{b}") for b in ("torch", "keras")} == BACKEND_DISTRIBUTIONS
    assert "unidl" not in BUILT


def _hint_files() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "constraints.txt", *ROOT.glob("scripts/*.sh")]
    for pattern in ("docs/**/*.md", "backends/*/README.md", "examples/**/*.md",
                    "examples/*.py", "unidl/**/*.py", "backends/*/unidl_*/**/*.py",
                    "*/pyproject.toml", "backends/*/pyproject.toml", "pyproject.toml"):
        found += ROOT.glob(pattern)
    return sorted(set(found))


_INSTALL = re.compile(r"pip install((?: +[^\s`'()#;,]+)+)")
_DIST = re.compile(r"^[\"']?(unidl[A-Za-z0-9_.-]*)")


def test_every_install_hint_names_a_distribution_we_build() -> None:
    bad: list[str] = []
    for path in _hint_files():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in _INSTALL.finditer(line):
                for token in match.group(1).split():
                    name = _DIST.match(token)
                    if name and "/" not in token and name.group(1).rstrip(".") not in (
                            BUILT | EXAMPLE):
                        bad.append(f"{path.relative_to(ROOT)}:{n}: {token}")
            if re.search(r"(?<![\w/-])unidl\[", line):  # an extra of the old name
                bad.append(f"{path.relative_to(ROOT)}:{n}: unidl[...]")
    assert not bad, "install hints naming a distribution we do not build:\n" + "\n".join(bad)


def test_every_requirement_on_a_unidl_distribution_is_ours_and_bounded() -> None:
    """Every pyproject in the repository, the example backend's included: a requirement
    on ``unidl`` would resolve to the unrelated project of that name."""
    from packaging.requirements import Requirement

    bad = []
    for path in sorted(ROOT.glob("**/pyproject.toml")):
        if ".venv" in path.parts:
            continue
        with open(path, "rb") as f:
            project = tomllib.load(f).get("project", {})
        texts = [*project.get("dependencies", []),
                 *(t for deps in project.get("optional-dependencies", {}).values()
                   for t in deps)]
        for req in map(Requirement, texts):
            if req.name.lower().startswith("unidl"):
                ops = {spec.operator for spec in req.specifier}
                if req.name not in BUILT or not ({">=", ">"} & ops and {"<", "<="} & ops):
                    bad.append(f"{path.relative_to(ROOT)}: {req}")
    assert not bad, bad


def test_runtime_hints_name_our_distributions() -> None:
    assert install_hint("torch") == "pip install unidl-torch"
    assert install_hint("keras") == "pip install unidl-keras"
    assert install_hint(None) == "pip install unidl-torch (or unidl-keras)"
    assert install_hint("jax") == install_hint(None)  # never "unidl-jax"
    with pytest.raises(unidl.BackendNotFoundError) as info:
        registry.get_backend("mxnet")
    assert "unidl-mxnet" not in str(info.value) and "unidl-keras (keras)" in str(info.value)


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_wheels",
                                                  ROOT / "scripts" / "check_wheels.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wheel(path: Path, metadata: str, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x-0.1.0.dist-info/METADATA", metadata)
        for name, text in files.items():
            z.writestr(name, text)
    return path


def test_the_wheel_check_catches_what_it_is_for(tmp_path: Path) -> None:
    check = _checker().check_wheel
    good = _wheel(tmp_path / "good.whl",
                  "Metadata-Version: 2.4\nName: unidl-keras\nVersion: 0.1.0\n"
                  "Requires-Dist: unidl-core<0.2,>=0.1\nRequires-Dist: keras<4,>=3.0\n"
                  "Requires-Dist: tensorflow<3,>=2.16\n",
                  {"unidl_keras/py.typed": "",
                   "x-0.1.0.dist-info/entry_points.txt":
                       "[unidl.backends]\nkeras = unidl_keras.backend:KerasBackend\n"})
    assert check(good, "backends/keras") == []
    bad = _wheel(tmp_path / "bad.whl",
                 "Metadata-Version: 2.4\nName: unidl\nVersion: 0.1.0\n"
                 "Requires-Dist: unidl-core>=0.1\n", {"unidl_keras/__init__.py": ""})
    problems = " | ".join(check(bad, "backends/keras"))
    for expected in ("name 'unidl'", "'unidl-core>=0.1' on our own distribution is not "
                     "bounded", "py.typed is missing", "[unidl.backends] keras",
                     "on darwin/arm64 it requires no TensorFlow"):
        assert expected in problems, problems


def test_setup_refuses_an_unknown_torch_switch() -> None:
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh")], capture_output=True,
                          text=True, env={**os.environ, "UNIDL_TORCH": "cuda"}, timeout=60,
                          check=False)
    assert proc.returncode == 2 and "UNIDL_TORCH must be 'cpu' or unset" in proc.stderr


@pytest.mark.parametrize("switch", ["", "cpu"])
def test_setup_passes_the_torch_switch_to_pip(tmp_path: Path, switch: str) -> None:
    """setup.sh run in a copy whose .venv/bin/python only records its arguments: the CPU
    switch adds PyTorch's CPU index, the default asks the machine's index alone."""
    for name in ("pyproject.toml", "constraints.txt", "requirements-dev.txt",
                 "scripts/setup.sh", "backends/torch/pyproject.toml",
                 "backends/keras/pyproject.toml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "calls"}\n')
    fake.chmod(0o755)
    env = {**os.environ, "UNIDL_TORCH": switch} if switch else {
        k: v for k, v in os.environ.items() if k != "UNIDL_TORCH"}
    proc = subprocess.run(["bash", str(tmp_path / "scripts" / "setup.sh")],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    (install,) = [c for c in (tmp_path / "calls").read_text().splitlines()
                  if c.startswith("-m pip install")]
    assert ("--extra-index-url https://download.pytorch.org/whl/cpu" in install) == (
        switch == "cpu")
    assert "-e . -e backends/torch -e backends/keras" in install


def test_the_readme_first_screen_says_what_is_downloaded() -> None:
    first_screen = "\n".join((ROOT / "README.md").read_text(encoding="utf-8")
                             .splitlines()[:40])
    for fact in ("UNIDL_TORCH=cpu", "tensorflow-cpu", "CUDA", "MiB", "unidl-core"):
        assert fact in first_screen, fact
    assert "UNIDL_TORCH" in (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
