from labvault.security.access import Role
from tests.conftest import Factory


def test_register_and_read(factory: Factory) -> None:
    lab = factory.lab()
    ctx = factory.ctx(lab, Role.RECEPTION)
    data = factory.patient_data(note="VIH positif")
    record = factory.platform.patients.register(ctx, data)
    again = factory.platform.patients.get(ctx, record.id)
    assert again.data.nir == data.nir
    assert again.data.note == "VIH positif"
    found = factory.platform.patients.find_by_nir(ctx, data.nir or "")
    assert [r.id for r in found] == [record.id]
    found = factory.platform.patients.find_by_name_birth(ctx, data.birth_name.lower(), data.birth_date)
    assert [r.id for r in found] == [record.id]
