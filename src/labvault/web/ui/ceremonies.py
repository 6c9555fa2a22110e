"""A WebAuthn ceremony as the page's script takes it: the challenge's id and the options that
``navigator.credentials.create/get`` receive (JSON form, decoded by ``static/webauthn.js``)."""

from __future__ import annotations

import json

from starlette.responses import JSONResponse

from labvault.identity.security_keys import Ceremony


def ceremony_response(ceremony: Ceremony) -> JSONResponse:
    return JSONResponse(
        {"challenge_id": str(ceremony.challenge_id), "options": json.loads(ceremony.options_json)}
    )
