// labvault UI: the only script of the pages (served from this origin; the CSP allows no other).
// Security keys (WebAuthn): the server sends the options, the browser's authenticator answers, and
// the answer goes back in an ordinary form post (with its CSRF token), so the server sets the
// session cookie and redirects as for any other form.
"use strict";

function fromB64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
}

function toB64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeOptions(options) {
  const o = structuredClone(options);
  o.challenge = fromB64url(o.challenge);
  if (o.user) o.user.id = fromB64url(o.user.id);
  for (const list of [o.allowCredentials, o.excludeCredentials]) {
    for (const c of list || []) c.id = fromB64url(c.id);
  }
  return o;
}

function encodeCredential(cred) {
  const r = cred.response;
  const response = { clientDataJSON: toB64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toB64url(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = toB64url(r.authenticatorData);
    response.signature = toB64url(r.signature);
    if (r.userHandle) response.userHandle = toB64url(r.userHandle);
  }
  return JSON.stringify({
    id: cred.id, rawId: toB64url(cred.rawId), type: cred.type, response,
    clientExtensionResults: cred.getClientExtensionResults(),
    authenticatorAttachment: cred.authenticatorAttachment || undefined,
  });
}

async function begin(url, form) {
  const body = new FormData();
  body.append("csrf_token", form.elements.csrf_token.value);
  if (form.elements.username) body.append("username", form.elements.username.value);
  const answer = await fetch(url, { method: "POST", body, credentials: "same-origin" });
  if (!answer.ok) throw new Error("the server refused to start (" + answer.status + ")");
  return answer.json();
}

function say(form, text) {
  const place = form.querySelector(".key-message");
  if (place) { place.textContent = text; place.hidden = false; }
}

function ceremony(form, create) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const started = await begin(form.dataset.begin, form);
      const publicKey = decodeOptions(started.options);
      const cred = create
        ? await navigator.credentials.create({ publicKey })
        : await navigator.credentials.get({ publicKey });
      form.elements.challenge_id.value = started.challenge_id;
      form.elements.credential.value = encodeCredential(cred);
      form.submit();
    } catch (error) {
      say(form, "La clé de sécurité n'a pas répondu : " + error.message);
    }
  });
}

document.querySelectorAll("form[data-webauthn=get]").forEach((f) => ceremony(f, false));
document.querySelectorAll("form[data-webauthn=create]").forEach((f) => ceremony(f, true));
