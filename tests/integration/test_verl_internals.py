"""Every verl internal the plugin relies on (`verl_anomseer.verl_seam.INTERNALS`), checked against the installed verl.

The first test fails at the first entry that is missing or changed, naming it, what changed and which plugin
module uses it. A second keeps the table complete: every `from verl... import ...` in `verl_anomseer/` must be
covered by an entry. The rest check that a change is reported by name, by the test and by the runtime gate
(`verl_seam.require`, which the driver-side checks call before Ray starts).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from verl_anomseer import verl_seam
from verl_anomseer.verl_seam import Internal, all_internals, first_change

pytestmark = pytest.mark.integration

PACKAGE = Path(__file__).resolve().parents[2] / "verl_anomseer"


def test_every_verl_internal_the_plugin_relies_on_is_unchanged():
    message = first_change(all_internals())
    assert message is None, message


def _verl_imports() -> set[str]:
    """Dotted names the package imports from verl: `from verl.a import b` -> `verl.a.b`."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "verl" and node.level == 0:
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.split(".")[0] == "verl")
    return found


def test_every_verl_import_of_the_package_is_listed():
    targets = [internal.target for internal in all_internals()]
    unlisted = sorted(
        name for name in _verl_imports() if not any(t == name or t.startswith(name + ".") for t in targets)
    )
    assert not unlisted, (
        f"verl_anomseer imports {unlisted} from verl; add them to verl_seam.INTERNALS (and docs/architecture.md)"
    )


@pytest.mark.parametrize(
    ("internal", "expected"),
    [
        (Internal("verl.utils.config.no_such_thing", "x"), "has no attribute 'no_such_thing'"),
        (Internal("verl.no_such_module.thing", "x"), "has no attribute 'no_such_module'"),
        (Internal("verl.utils.config.validate_config", "x", params=("config",)), "has parameters"),
        (Internal("verl.utils.config.validate_config", "x", accepts=("cfg",)), "no longer takes ['cfg']"),
        (Internal("verl.trainer.ppo.core_algos.ADV_ESTIMATOR_REGISTRY", "x", kind=list), "expected a list"),
        (Internal("verl.utils.device.get_torch_device", "x", source=("torch.cuda.gone",)), "no longer contains"),
    ],
)
def test_a_change_is_reported_by_name(internal, expected):
    known = all_internals()
    message = first_change((known[0], internal, known[2]))
    assert message is not None and f"`{internal.target}` " in message and expected in message, message


def test_the_runtime_gate_raises_on_the_first_change_and_checks_each_concern_once(monkeypatch):
    changed = Internal("verl.utils.config.validate_config", "plugin._install_driver_checks", accepts=("cfg",))
    monkeypatch.setattr(verl_seam, "INTERNALS", {**verl_seam.INTERNALS, "driver": (changed,)})
    monkeypatch.setattr(verl_seam, "_checked", set())
    with pytest.raises(verl_seam.VerlSeamError, match=r"`verl.utils.config.validate_config` no longer takes \['cfg'\]"):
        verl_seam.require(["estimator", "driver"])
    assert verl_seam._checked == {"estimator"}  # checked and passed: not run again
    with pytest.raises(ValueError, match="unknown verl seam concern 'nope'"):
        verl_seam.require(["nope"])


def test_a_different_verl_version_only_warns(monkeypatch, caplog):
    import verl

    monkeypatch.setattr(verl, "__version__", "9.9.9")
    monkeypatch.setattr(verl_seam, "_checked", set())
    verl_seam.require(["version"])
    assert "is 9.9.9, the plugin is written for 0.9.1" in caplog.text
