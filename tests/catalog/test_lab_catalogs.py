"""Per-lab catalogues in the database, and the `labvault catalog export/import` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labvault.catalog.loader import default_catalog, dump_catalog
from labvault.catalog.storage import LabCatalog
from labvault.cli import app
from labvault.errors import Forbidden, InvalidInput, NotFound
from labvault.security.access import Role
from tests.db_inspect import row_count
from tests.factories import Factory, cli_ctx


def customised(version: str) -> dict[str, object]:
    document = dump_catalog(default_catalog())
    document["version"] = version
    return document


def test_lab_starts_on_the_shipped_catalogue_then_imports_its_own(factory: Factory) -> None:
    lab, other = factory.lab(), factory.lab()
    catalogs = factory.platform.catalogs
    assert catalogs.active(lab.id).version == default_catalog().version
    biologist = factory.ctx(lab, Role.BIOLOGIST)
    imported = catalogs.import_document(biologist, lab.id, customised("LAB-2027.1"))
    assert catalogs.active(lab.id).version == "LAB-2027.1" == imported.version
    assert catalogs.active(other.id).version == default_catalog().version
    assert catalogs.export(biologist, lab.id)["version"] == "LAB-2027.1"
    assert row_count(factory.platform, LabCatalog, lab_id=lab.id) == 1


def test_import_is_validated_whole_and_role_checked(factory: Factory) -> None:
    lab, other = factory.lab(), factory.lab()
    catalogs = factory.platform.catalogs
    broken = customised("BROKEN")
    tests = broken["tests"]
    assert isinstance(tests, list)
    tests.append(dict(tests[0]))  # a duplicate code
    with pytest.raises(InvalidInput):
        catalogs.import_document(factory.ctx(lab, Role.LAB_ADMIN), lab.id, broken)
    with pytest.raises(Forbidden):
        catalogs.import_document(factory.ctx(lab, Role.TECHNICIAN), lab.id, customised("X"))
    with pytest.raises(NotFound):
        catalogs.import_document(factory.ctx(other, Role.LAB_ADMIN), lab.id, customised("X"))
    assert row_count(factory.platform, LabCatalog, lab_id=lab.id) == 0
    catalogs.import_document(cli_ctx(), lab.id, customised("BY-OPERATOR"))
    assert catalogs.active(lab.id).version == "BY-OPERATOR"


def test_catalog_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    dirs = ["--data-dir", str(tmp_path / "data"), "--key-dir", str(tmp_path / "keys")]
    shipped = runner.invoke(app, ["catalog", "export"])
    assert shipped.exit_code == 0
    document = json.loads(shipped.output)
    assert document["version"] == default_catalog().version and len(document["tests"]) >= 60

    assert runner.invoke(app, ["init", *dirs]).exit_code == 0
    add = ["lab", "add", *dirs, "--code", "CAT1", "--name", "Labo Catalogue", "--finess", "000000000"]
    assert runner.invoke(app, add).exit_code == 0
    document["version"] = "CAT1-2027"
    source = tmp_path / "catalog.json"
    source.write_text(json.dumps(document))
    result = runner.invoke(app, ["catalog", "import", str(source), "--lab", "CAT1", *dirs])
    assert result.exit_code == 0, result.output
    assert "CAT1-2027" in result.output
    exported = tmp_path / "out.json"
    result = runner.invoke(app, ["catalog", "export", "--lab", "CAT1", "--output", str(exported), *dirs])
    assert result.exit_code == 0, result.output
    assert json.loads(exported.read_text())["version"] == "CAT1-2027"

    source.write_text('{"version": "x",\n "tests": [}')
    result = runner.invoke(app, ["catalog", "import", str(source), "--lab", "CAT1", *dirs])
    assert result.exit_code == 2 and "line 2" in result.output
    document["tests"][0]["loinc"] = "2345-8"  # wrong check digit
    source.write_text(json.dumps(document))
    result = runner.invoke(app, ["catalog", "import", str(source), "--lab", "CAT1", *dirs])
    assert result.exit_code == 2 and "loinc" in result.output
