"""The layers and the absence of import cycles (pyproject.toml ``[tool.importlinter]``), checked with
import-linter's own contracts on grimp's import graph of ``src/labvault``; and shown to catch a
planted upward import and a planted cycle, so that a broken check cannot pass for a kept one."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import grimp
import pytest
from importlinter.configuration import configure
from importlinter.contracts.acyclic_siblings import AcyclicSiblingsContract
from importlinter.contracts.layers import LayersContract
from importlinter.domain.contract import Contract

ROOT = Path(__file__).resolve().parents[1]
CONTRACT_TYPES: dict[str, type[Contract]] = {
    "layers": LayersContract,
    "acyclic_siblings": AcyclicSiblingsContract,
}


configure()  # import-linter's adapters (its timer, file system), as its command line sets them


def _config() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return dict(tomllib.load(file)["tool"]["importlinter"])


def _contracts() -> dict[str, Contract]:
    config = _config()
    session = {"root_packages": [config["root_package"]]}
    contracts: dict[str, Contract] = {}
    for raw in config["contracts"]:
        # import-linter's fields parse text, as its own TOML reader hands them over.
        options = {
            k: v if isinstance(v, list) else str(v) for k, v in raw.items() if k not in ("id", "name", "type")
        }
        contracts[raw["id"]] = CONTRACT_TYPES[raw["type"]](raw["name"], session, options)
    return contracts


@pytest.fixture(scope="module")
def contracts() -> dict[str, Contract]:
    return _contracts()


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph(_config()["root_package"], cache_dir=None)


def _broken(contract: Contract, graph: grimp.ImportGraph) -> str:
    """The contract's report on ``graph``: empty when kept."""
    check = contract.check(graph, verbose=False)
    return "" if check.kept else contract.render_broken_contract(check) or str(check.metadata)


def test_the_code_keeps_every_contract(contracts: dict[str, Contract]) -> None:
    assert set(contracts) == {"layers", "acyclic"}
    graph = _graph()
    for contract in contracts.values():
        assert not _broken(contract, graph), contract.name


def test_an_upward_import_breaks_the_layers(contracts: dict[str, Contract]) -> None:
    graph = _graph()
    # The kind of import this issue removed: the store naming a domain's models.
    graph.add_import(importer="labvault.store.sqlite_planner", imported="labvault.workflow.models")
    assert _broken(contracts["layers"], graph)


def test_a_cycle_breaks_the_acyclic_contract(contracts: dict[str, Contract]) -> None:
    graph = _graph()
    # policy.py builds on the permission table; the table asking the policy back was a cycle.
    assert "labvault.security.permissions" in graph.find_modules_directly_imported_by(
        "labvault.security.policy"
    )
    graph.add_import(importer="labvault.security.permissions", imported="labvault.security.policy")
    assert _broken(contracts["acyclic"], graph)


def test_a_new_top_level_module_must_be_placed_in_a_layer(contracts: dict[str, Contract]) -> None:
    graph = _graph()
    graph.add_module("labvault.unplaced")
    graph.add_import(importer="labvault.unplaced", imported="labvault.errors")
    assert _broken(contracts["layers"], graph)


def _tables_after(imports: str) -> set[str]:
    code = f"{imports}\nfrom labvault.store.base import Base\nprint(' '.join(Base.metadata.tables))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_the_schema_module_registers_every_table() -> None:
    """Migrations, RLS and the planner see the tables labvault/schema.py registers: every table the
    whole application maps, without loading the application."""
    everything = _tables_after("import labvault.platform, labvault.cli, labvault.web.app, labvault.demo.seed")
    assert len(everything) > 20
    assert _tables_after("import labvault.schema") == everything
