"""Backend discovery: plugins are real distributions with entry points, as a third party's.

Each test writes a throwaway distribution (a ``*.dist-info`` with ``entry_points.txt`` and a
module) into a temporary directory on ``sys.path``, exactly what ``pip install`` leaves.
"""

from __future__ import annotations

import sys

import pytest

import unidl
from unidl import registry

from .conftest import GOOD, Plugin


def test_a_plugin_is_discovered_and_loaded_lazily(plugin: Plugin) -> None:
    plugin("unidl-fake", "fake", GOOD)
    assert "fake" in unidl.backend_names()
    assert "fake_unidl_fake" not in sys.modules  # listing names imports nothing
    backend = registry.get_backend("fake")
    assert backend.name == "fake" and backend.available_devices() == ["cpu"]
    assert registry.get_backend("FAKE") is backend  # cached, case-insensitive


def test_available_backends_reports_versions_devices_and_import_errors(plugin: Plugin) -> None:
    plugin("unidl-fake", "fake", GOOD)
    plugin("unidl-broken", "broken", "import no_such_framework_xyz\n")
    infos = {i.name: i for i in unidl.available_backends()}
    assert infos["fake"].importable and infos["fake"].devices == ("cpu",)
    assert infos["fake"].version == "0.0-test"
    broken = infos["broken"]
    assert not broken.importable
    assert broken.error is not None and "unidl-broken 1.0" in broken.error
    assert "no_such_framework_xyz" in broken.error


def test_a_broken_plugin_names_its_distribution_and_keeps_the_cause(plugin: Plugin) -> None:
    plugin("unidl-broken", "broken", "raise RuntimeError('CUDA driver too old')\n")
    plugin("unidl-fake", "fake", GOOD)
    with pytest.raises(unidl.BackendImportError) as info:
        registry.get_backend("broken")
    assert "unidl-broken 1.0" in str(info.value) and "CUDA driver too old" in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert registry.get_backend("fake").name == "fake"  # the others keep working


def test_unknown_backend_lists_installed_and_suggests_install(plugin: Plugin) -> None:
    plugin("unidl-fake", "fake", GOOD)
    with pytest.raises(unidl.BackendNotFoundError) as info:
        registry.get_backend("jax")
    message = str(info.value)
    assert "'jax'" in message and "fake" in message
    # never a made-up distribution name (anyone could register it), only ours
    assert "unidl-jax" not in message and "unidl-torch (torch)" in message


def test_two_distributions_claiming_one_name_is_an_error_naming_both(plugin: Plugin) -> None:
    plugin("unidl-fake-a", "fake", GOOD)
    plugin("unidl-fake-b", "fake", GOOD)
    with pytest.raises(unidl.BackendError) as info:
        registry.get_backend("fake")
    assert "unidl-fake-a 1.0" in str(info.value) and "unidl-fake-b 1.0" in str(info.value)


def test_plugin_object_missing_protocol_members_is_explained(plugin: Plugin) -> None:
    plugin("unidl-half", "half", "class Backend:\n    name = 'half'\n")
    with pytest.raises(unidl.BackendError, match="missing version, native_formats, "
                                                 "capabilities, available_devices, build"):
        registry.get_backend("half")


def test_entry_point_name_must_match_backend_name(plugin: Plugin) -> None:
    plugin("unidl-liar", "liar", GOOD.replace("{name}", "other"))
    with pytest.raises(unidl.BackendError, match="calls itself 'other'"):
        registry.get_backend("liar")


def test_a_backend_object_can_be_passed_directly(plugin: Plugin) -> None:
    plugin("unidl-fake", "fake", GOOD)
    obj = registry.get_backend("fake")
    assert registry.get_backend(obj) is obj
    with pytest.raises(unidl.BackendError, match="does not implement"):
        registry.get_backend(object())  # type: ignore[arg-type]
