"""HL7 v2 messages read without a lab: the public messages of ../shared/testdata/hl7 (NIST, ELR
realm and vendor examples), character sets, escapes, the precise refusals, acknowledgements that
hl7apy validates strictly, and arbitrary bytes that never raise anything but a refusal."""

from __future__ import annotations

import datetime as dt
import logging
import logging.config
import os
from pathlib import Path

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labvault.interop.hl7v2.ack import build_ack
from labvault.interop.hl7v2.envelope import HeaderRefusal, parse
from labvault.interop.hl7v2.orders import identity_of, read_orders, requested_of
from labvault.interop.hl7v2.oru import check, read_oru
from labvault.interop.hl7v2.refusal import AckCode, ErrorCode, Hl7Refusal

HL7 = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "hl7"
IN_CI = os.environ.get("CI", "").lower() == "true"
NOW = dt.datetime(2026, 12, 7, 8, 30, tzinfo=dt.UTC)


def public_messages() -> list[Path]:
    files = sorted(HL7.glob("*.hl7"))
    if not files:
        if IN_CI:
            pytest.fail(f"the public HL7 messages are missing from {HL7}")
        pytest.skip(f"no public HL7 messages at {HL7} (../shared/testdata)")
    return files


def oru(*obx: str, spm: str = "SPM|1|^TUBE0001||119297000^Blood^SCT", pid: str = "PID|1||") -> bytes:
    """A minimal ORU^R01 2.5.1 with the given OBX segments (and NTE, if any)."""
    segments = [
        "MSH|^~\\&|ANALYZER|BENCH|LABVAULT|LAB|20261207083000||ORU^R01^ORU_R01|MSG0001|P|2.5.1",
        pid,
        "OBR|1||TUBE0001|24323-8^Comprehensive metabolic panel^LN",
        *obx,
        spm,
    ]
    return "\r".join(segments).encode("ascii") + b"\r"


def test_every_public_message_is_read_and_each_oru_gives_its_observations() -> None:
    seen = {}
    for path in public_messages():
        envelope = parse(path.read_bytes())
        if envelope.message_type == "ORU":
            seen[path.name] = read_oru(envelope)
        else:
            assert (envelope.message_type, envelope.trigger) == ("ORM", "O01")
    assert len(seen) >= 9
    first = seen["ORU_R01_2.5.1_SampleTestCase1.hl7"]
    assert [(o.code, o.code_system, o.value, o.unit, o.status) for o in first] == [
        ("10368-9", "LN", "50", "ug/dL", "F")
    ]
    assert first[0].barcode  # the specimen id of OBR-3 or SPM-2
    assert len(seen["ORU_R01_2.5.1_SampleTestCase6.hl7"]) == 3


def test_the_wrong_loinc_code_is_refused_with_ae_naming_obx_3() -> None:
    envelope = parse((public_messages()[0].parent / "realm-cj-badloinc.hl7").read_bytes())
    with pytest.raises(Hl7Refusal) as refused:
        check(read_oru(envelope))
    assert refused.value.ack is AckCode.ERROR
    assert (refused.value.where.segment, refused.value.where.field) == ("OBX", 3)  # type: ignore[union-attr]
    assert refused.value.code is ErrorCode.TABLE_VALUE_NOT_FOUND
    ack = build_ack(envelope, AckCode.ERROR, refused.value, application="LABVAULT", facility="LAB", now=NOW)
    text = ack.decode()
    assert "MSA|AE|1234567890" in text
    assert "ERR||OBX^1^3^1^1|103^Table value not found^HL70357|E" in text
    assert "xx625-4" not in text  # the reason never echoes the value


def test_an_orm_is_not_an_oru() -> None:
    envelope = parse((public_messages()[0].parent / "orm-example.hl7").read_bytes())
    with pytest.raises(Hl7Refusal) as refused:
        read_oru(envelope)
    assert refused.value.ack is AckCode.REJECT


def test_values_units_statuses_comments_and_escapes() -> None:
    message = oru(
        "OBX|1|NM|2823-3^Potassium^LN||4.2|mmol/L^^UCUM|3.5-5.1|N|||F",
        "NTE|1|L|hemolysed \\T\\ lipemic",
        "NTE|2|L|recheck",
        "OBX|2|SN|2951-2^Sodium^LN||<^120|mmol/L|||||C",
        "OBX|3|ST|GLU^Glucose^L||5\\S\\6|mmol/L|||||P",
    )
    observations = read_oru(parse(message))
    check(observations)
    assert [(o.code, o.code_system, o.value, o.unit, o.status) for o in observations] == [
        ("2823-3", "LN", "4.2", "mmol/L", "F"),
        ("2951-2", "LN", "<120", "mmol/L", "C"),
        ("GLU", "L", "5^6", "mmol/L", "P"),
    ]
    assert observations[0].comment == "hemolysed & lipemic recheck"
    assert {o.barcode for o in observations} == {"TUBE0001"}
    assert observations[0].barcode_where.segment == "SPM"


def test_latin_1_declared_in_msh_18_is_decoded_and_an_undeclared_byte_refused() -> None:
    header = "MSH|^~\\&|A|B|C|D|20261207||ORU^R01|M1|P|2.5.1||||||8859/1"
    body = f"{header}\rOBX|1|ST|GLU^G^L||trouble lipémique||||||F\rSPM|1|^T1\r"
    observations = read_oru(parse(body.encode("iso8859-1")))
    assert observations[0].value == "trouble lipémique"
    ascii_header = "MSH|^~\\&|A|B|C|D|20261207||ORU^R01|M1|P|2.5.1"
    with pytest.raises(Hl7Refusal) as refused:
        parse(f"{ascii_header}\rOBX|1|ST|GLU^G^L||é||||||F\r".encode("iso8859-1"))
    assert str(refused.value.where) == "MSH[1]-18"


@pytest.mark.parametrize(
    ("header", "ack", "where"),
    [
        ("MSH|^~\\&|A|B|C|D|20261207||ORU^R01|M1|P|2.9", AckCode.REJECT, "MSH[1]-12"),
        ("MSH|^~\\&|A|B|C|D|20261207||ORU^R01||P|2.5.1", AckCode.ERROR, "MSH[1]-10"),
        ("MSH|^~\\&|A|B|C|D|20261207||ORU^R01|M1|Z|2.5.1", AckCode.REJECT, "MSH[1]-11"),
        ("MSH|^~\\&|A|B|C|D|20261207||ORU^R01|M1|P|2.5.1||||||EBCDIC", AckCode.REJECT, "MSH[1]-18"),
        ("PID|1||x", AckCode.ERROR, "MSH[1]"),
    ],
)
def test_header_refusals_name_their_field(header: str, ack: AckCode, where: str) -> None:
    with pytest.raises(Hl7Refusal) as refused:
        parse(f"{header}\rOBX|1|ST|GLU^G^L||1||||||F\r".encode())
    assert refused.value.ack is ack
    assert str(refused.value.where) == where


def test_a_header_refusal_still_names_the_message_it_refuses() -> None:
    with pytest.raises(HeaderRefusal) as refused:
        parse(b"MSH|^~\\&|A|B|C|D|20261207||ORU^R01|M42|P|2.9\rOBX|1|ST|GLU^G^L||1||||||F\r")
    ack = build_ack(
        refused.value.envelope, refused.value.ack, refused.value, application="L", facility="F", now=NOW
    )
    assert (
        "MSA|AR|M42" in ack.decode() and "ERR||MSH^1^12^1|203^Unsupported version id^HL70357" in ack.decode()
    )


@pytest.mark.parametrize(
    ("obx", "where"),
    [
        ("OBX|1|NM|^Potassium^LN||4.2|mmol/L|||||F", "OBX[1]-3.1"),
        ("OBX|1|NM|28233^Potassium^LN||4.2|mmol/L|||||F", "OBX[1]-3.1"),
        ("OBX|1|NM|2823-3^Potassium^LN||4.2|mmol/L|||||", "OBX[1]-11"),
        ("OBX|1|NM|2823-3^Potassium^LN||4.2|mmol/L|||||X", "OBX[1]-11"),
        ("OBX|1|NM|2823-3^Potassium^LN|||mmol/L|||||F", "OBX[1]-5"),
        ("OBX|1|NM|2823-3^Potassium^LN||4.2~4.3|mmol/L|||||F", "OBX[1]-5"),
    ],
)
def test_observation_refusals_name_their_field(obx: str, where: str) -> None:
    with pytest.raises(Hl7Refusal) as refused:
        check(read_oru(parse(oru(obx))))
    assert refused.value.ack is AckCode.ERROR
    assert str(refused.value.where) == where


def test_no_specimen_id_is_refused_naming_spm_2() -> None:
    message = oru("OBX|1|NM|2823-3^Potassium^LN||4.2|mmol/L|||||F", spm="SPM|1|")
    message = message.replace(b"OBR|1||TUBE0001|", b"OBR|1|||")
    with pytest.raises(Hl7Refusal) as refused:
        check(read_oru(parse(message)))
    assert str(refused.value.where) == "SPM[1]-2"


def test_pid_3_identifiers_labvault_checks() -> None:
    pid = (
        "PID|1||1850575123456^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS"
        "~0d7c3c6e-1111-4111-8111-111111111111^^^^PI~H123^^^HOSP&1.2.3&ISO^MR"
    )
    observations = read_oru(parse(oru("OBX|1|NM|2823-3^K^LN||4.2|mmol/L|||||F", pid=pid)))
    assert [(p.kind, p.value) for p in observations[0].patient] == [
        ("nir", "1850575123456"),
        ("lab", "0d7c3c6e-1111-4111-8111-111111111111"),
    ]


@pytest.mark.parametrize("code", [AckCode.ACCEPT, AckCode.ERROR, AckCode.REJECT])
def test_acknowledgements_pass_hl7apy_strict_validation(code: AckCode) -> None:
    envelope = parse(oru("OBX|1|NM|2823-3^K^LN||4.2|mmol/L|||||F"))
    refusal = None
    if code is not AckCode.ACCEPT:
        try:
            check(read_oru(parse(oru("OBX|1|NM|2823-3^K^LN||4.2|mmol/L|||||X"))))
        except Hl7Refusal as exc:
            refusal = exc
        assert refusal is not None
    ack = build_ack(envelope, code, refusal, application="LABVAULT", facility="LAB|1", now=NOW)
    message = parse_message(ack.decode(), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    message.validate()
    assert message.msa.msa_1.to_er7() == code.value
    assert message.msa.msa_2.to_er7() == "MSG0001"
    assert message.msh.msh_4.to_er7() == "LAB\\F\\1"  # delimiters escaped


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_arbitrary_bytes_are_refused_precisely_or_read(raw: bytes) -> None:
    try:
        check(read_oru(parse(raw)))
    except Hl7Refusal as refusal:
        assert refusal.reason
        assert refusal.ack in (AckCode.ERROR, AckCode.REJECT)


SEGMENT_TEXT = st.text(alphabet=st.sampled_from("ABCXYZ0123456789|^~\\&.- é"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["PID", "OBR", "OBX", "NTE", "SPM", "ZZZ"]), SEGMENT_TEXT), max_size=8)
)
def test_arbitrary_segments_after_a_valid_header_never_crash(segments: list[tuple[str, str]]) -> None:
    header = "MSH|^~\\&|A|B|C|D|20261207||ORU^R01|M1|P|2.5.1||||||UNICODE UTF-8"
    body = "\r".join([header, *(f"{name}|{text}" for name, text in segments)])
    try:
        check(read_oru(parse(body.encode("utf-8"))))
    except Hl7Refusal as refusal:
        assert refusal.reason


def test_a_value_python_hl7_cannot_unescape_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})  # as uvicorn does
    caplog.set_level(logging.DEBUG)
    message = oru("OBX|1|ST|GLU^Glucose^L||DUPONT\\\\Z|mmol/L|||||F")
    read_oru(parse(message))
    assert "DUPONT" not in caplog.text


# --- orders (OML^O21, ORM^O01) ------------------------------------------------------------------

ORDER_HEADERS = {
    "OML": "MSH|^~\\&|DPI|HOP|LABVAULT|LAB|20261207083000||OML^O21^OML_O21|ORD0001|P|2.5.1"
    "||||||UNICODE UTF-8",
    "ORM": "MSH|^~\\&|DPI|HOP|LABVAULT|LAB|20261207083000||ORM^O01|ORD0001|P|2.3",
}


def order_message(kind: str, *segments: str) -> bytes:
    return "\r".join([ORDER_HEADERS[kind], *segments]).encode("utf-8") + b"\r"


def test_an_oml_is_read_into_its_patient_and_one_order_per_placer_group() -> None:
    message = read_orders(
        parse(
            order_message(
                "OML",
                "PID|1||1850575123456^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS"
                "||LEGRAND^Anne Marie^^^^^L~DUPUIS^Anne^^^^^D||19850512|F",
                "ORC|NW|PL1^DPI||GRP1|||^^^^^S|||||810000000001^DOC^Jean^^^^^^&1.2.250.1.71.4.2.1&ISO^^^^RPPS",
                "OBR|1|PL1^DPI||2823-3^Potassium^LN|||||||||fievre",
                "ORC|NW|PL2^DPI||GRP1",
                "OBR|1|PL2^DPI||1104^NFS^NABM",
                "ORC|NW|PL3^DPI",
                "OBR|1|PL3^DPI||GLU^Glycemie^L",
            )
        )
    )
    patient = message.patient
    assert (patient.birth_name, patient.first_names, patient.used_name) == ("LEGRAND", "Anne Marie", "DUPUIS")
    assert (patient.birth_date, patient.sex) == (dt.date(1985, 5, 12), "F")
    assert [(r.kind, r.value, r.oid) for r in patient.ids] == [
        ("ins", "1850575123456", "1.2.250.1.213.1.4.10")
    ]
    first, second = message.orders
    assert first.placers == ["PL1", "PL2"] and second.placers == ["PL3"]
    assert first.rpps == "10000000001" and first.urgent and first.clinical_info == "fievre"
    assert [t.codes for t in first.tests] == [(("2823-3", "LN"),), (("1104", "NABM"),)]
    assert str(second.tests[0].where) == "OBR[3]-4"


@pytest.mark.parametrize(
    ("segments", "where", "code"),
    [
        (("ORC|NW|P1", "OBR|1|P1||K^K^L"), "ORC[1]", ErrorCode.SEGMENT_SEQUENCE),
        (
            ("PID|1||||^Anne||19850512|F", "ORC|NW|P1", "OBR|1|P1||K"),
            "PID[1]-5.1",
            ErrorCode.REQUIRED_FIELD_MISSING,
        ),
        (("PID|1||||LEGRAND^Anne||1985-05|F", "ORC|NW|P1", "OBR|1|P1||K"), "PID[1]-7", ErrorCode.DATA_TYPE),
        (
            ("PID|1||||LEGRAND^Anne||19850512|X", "ORC|NW|P1", "OBR|1|P1||K"),
            "PID[1]-8",
            ErrorCode.TABLE_VALUE_NOT_FOUND,
        ),
        (
            ("PID|1||||LEGRAND^Anne||19850512|F", "ORC|CA|P1", "OBR|1|P1||K"),
            "ORC[1]-1",
            ErrorCode.TABLE_VALUE_NOT_FOUND,
        ),
        (
            ("PID|1||||LEGRAND^Anne||19850512|F", "ORC|NW", "OBR|1|||K"),
            "ORC[1]-2",
            ErrorCode.REQUIRED_FIELD_MISSING,
        ),
        (
            ("PID|1||||LEGRAND^Anne||19850512|F", "ORC|NW|P1", "OBR|1|P1||"),
            "OBR[1]-4",
            ErrorCode.REQUIRED_FIELD_MISSING,
        ),
        (("PID|1||||LEGRAND^Anne||19850512|F", "OBR|1|P1||K"), "OBR[1]", ErrorCode.SEGMENT_SEQUENCE),
    ],
)
def test_order_messages_are_refused_naming_the_field(
    segments: tuple[str, ...], where: str, code: ErrorCode
) -> None:
    with pytest.raises(Hl7Refusal) as refused:
        read_orders(parse(order_message("ORM", *segments)))
    assert str(refused.value.where) == where and refused.value.code is code
    assert "LEGRAND" not in refused.value.reason


@pytest.mark.parametrize("kind", ["OML", "ORM"])
@pytest.mark.parametrize("code", [AckCode.ACCEPT, AckCode.ERROR])
def test_order_acknowledgements_pass_hl7apy_strict_validation(kind: str, code: AckCode) -> None:
    envelope = parse(order_message(kind, "PID|1||||LEGRAND^Anne||19850512|F", "ORC|NW|P1", "OBR|1|P1||K"))
    refusal = None
    if code is AckCode.ERROR:
        with pytest.raises(Hl7Refusal) as refused:
            read_orders(
                parse(order_message(kind, "PID|1||||LEGRAND^Anne||1985|F", "ORC|NW|P1", "OBR|1|P1||K"))
            )
        refusal = refused.value
    ack = build_ack(envelope, code, refusal, application="LABVAULT", facility="LAB", now=NOW)
    message = parse_message(ack.decode(), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    message.validate()
    assert message.msa.msa_1.to_er7() == code.value
    assert message.msa.msa_2.to_er7() == "ORD0001"


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["OML", "ORM"]),
    st.lists(
        st.tuples(
            st.sampled_from(["PID", "ORC", "OBR", "TQ1", "OBX", "NTE", "SPM", "PV1", "ZZZ"]), SEGMENT_TEXT
        ),
        max_size=10,
    ),
)
def test_arbitrary_order_segments_never_crash(kind: str, segments: list[tuple[str, str]]) -> None:
    body = order_message(kind, *(f"{name}|{text}" for name, text in segments))
    try:
        message = read_orders(parse(body))
        identity_of(message)
        requested_of(message)
    except Hl7Refusal as refusal:
        assert refusal.reason
        assert refusal.ack in (AckCode.ERROR, AckCode.REJECT)


def test_the_public_orm_example_is_read() -> None:
    path = HL7 / "orm-example.hl7"
    if not path.exists():
        pytest.skip(f"no {path}")
    message = read_orders(parse(path.read_bytes()))
    assert (message.patient.birth_date, message.patient.sex, message.patient.ids) == (
        dt.date(1966, 12, 1),
        "M",
        (),
    )
    [order] = message.orders
    assert order.placers == ["987654"] and order.rpps == "1173"  # not an RPPS: the intake refuses it
    assert [t.codes for t in order.tests] == [(("73610", ""),)]
