"""Original-mode acknowledgements (HL7 v2.5 section 2.9.2): MSH, MSA with the received message's
control id, and on a refusal an ERR naming where (ERR-2), the HL7 error code (ERR-3), the severity
(ERR-4) and the reason (ERR-8). Sent only once what the message did is committed
(interop/hl7v2/inbox.py)."""

from __future__ import annotations

import datetime as dt
import uuid

from labvault.interop.hl7v2.envelope import Envelope
from labvault.interop.hl7v2.escaping import escape
from labvault.interop.hl7v2.refusal import AckCode, Hl7Refusal

SEPARATOR = "|"
ENCODING = "^~\\&"
ACK_VERSION = "2.5.1"


def _hd(value: str) -> str:
    return escape(value)[:180]


def build_ack(
    envelope: Envelope | None,
    code: AckCode,
    refusal: Hl7Refusal | None,
    *,
    application: str,
    facility: str,
    now: dt.datetime,
) -> bytes:
    """The acknowledgement of ``envelope`` (None: a message whose header could not be read, whose
    control id is unknown). UTF-8 bytes without the MLLP frame, segments ended by CR."""
    received_control = envelope.control_id if envelope else ""
    trigger = envelope.trigger if envelope else ""
    receiving_app = envelope.sending_application if envelope else ""
    receiving_facility = envelope.sending_facility if envelope else ""
    msh = SEPARATOR.join(
        [
            "MSH",
            ENCODING,
            _hd(application),
            _hd(facility),
            _hd(receiving_app),
            _hd(receiving_facility),
            now.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S+0000"),
            "",
            f"ACK^{escape(trigger)}^ACK" if trigger else "ACK",
            uuid.uuid4().hex[:20],
            "P",
            ACK_VERSION,
            "",
            "",
            "",
            "",
            "",
            "UNICODE UTF-8",
        ]
    )
    segments = [msh, SEPARATOR.join(["MSA", code.value, escape(received_control)])]
    if refusal is not None:
        location = ""
        if refusal.where is not None:
            parts = [refusal.where.segment, str(refusal.where.sequence)]
            if refusal.where.field is not None:
                parts.append(str(refusal.where.field))
                parts.append("1")  # field repetition
                if refusal.where.component is not None:
                    parts.append(str(refusal.where.component))
            location = "^".join(parts)
        segments.append(
            SEPARATOR.join(
                [
                    "ERR",
                    "",
                    location,
                    f"{refusal.code.value}^{refusal.code.text}^HL70357",
                    "E",
                    "",
                    "",
                    "",
                    escape(refusal.reason),
                ]
            )
        )
    return ("\r".join(segments) + "\r").encode("utf-8")
