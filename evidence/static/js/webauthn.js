// Security keys (WebAuthn): registering one from the account's factors page, using one at the login's second step
// (templates/web/second_factor/_security_keys.html; evidence/web/security_keys.py).
// The server's options come as JSON with binary fields in base64url; the browser's API wants ArrayBuffers, and
// its answer goes back as JSON in base64url again. The CSRF token travels in the X-CSRFToken header. Every message
// shown comes from the element's data-msg-* attributes, in the page's language. Without this script (or without
// WebAuthn in the browser) the buttons stay disabled and the page says why.
(function () {
  "use strict";

  function fromBase64url(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    const binary = atob(base64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    if (buffer === null || buffer === undefined) return null;
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map((c) => Object.assign({}, c, { id: fromBase64url(c.id) }));
  }

  function creationOptions(json) {
    const options = Object.assign({}, json, { challenge: fromBase64url(json.challenge) });
    options.user = Object.assign({}, json.user, { id: fromBase64url(json.user.id) });
    options.excludeCredentials = withIds(json.excludeCredentials);
    return options;
  }

  function requestOptions(json) {
    const options = Object.assign({}, json, { challenge: fromBase64url(json.challenge) });
    options.allowCredentials = withIds(json.allowCredentials);
    return options;
  }

  function credentialJSON(credential) {
    const r = credential.response;
    const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      response.userHandle = toBase64url(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      response: response,
      clientExtensionResults: credential.getClientExtensionResults(),
    };
  }

  // A refusal from the server carries its message ({"error": "…"}, in the reader's language).
  class Refused extends Error {}

  async function post(root, url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": root.dataset.csrf },
      body: JSON.stringify(body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      throw new Error("not JSON: " + response.status);
    }
    if (!response.ok) throw new Refused((data && data.error) || root.dataset.msgFailed);
    return data;
  }

  function postTo(url, csrf) {
    const form = document.createElement("form");
    form.method = "post";
    form.action = url;
    const token = document.createElement("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = csrf;
    form.append(token);
    document.body.append(form);
    form.submit();
  }

  function explain(root, error) {
    if (error instanceof Refused) return error.message;
    if (error && error.name === "NotAllowedError") return root.dataset.msgCancelled;
    if (error && error.name === "InvalidStateError") return root.dataset.msgKnown || root.dataset.msgFailed;
    return root.dataset.msgFailed;
  }

  function setup(root, run) {
    const button = root.querySelector("[data-webauthn-button]");
    const status = root.querySelector("[data-webauthn-status]");
    if (!button || !status) return;
    if (!window.PublicKeyCredential || !navigator.credentials) {
      status.textContent = root.dataset.msgUnsupported;
      return;
    }
    button.disabled = false;
    // A disabled button cannot take the page's autofocus: should the browser have applied it before this script
    // ran, the button is given the focus now that it is usable (the login's second step offers the key first).
    if (button.hasAttribute("autofocus")) button.focus();
    const start = async (event) => {
      event.preventDefault();
      button.disabled = true;
      status.textContent = root.dataset.msgWaiting;
      try {
        const data = await run();
        if (data.post) postTo(data.redirect, root.dataset.csrf); // a page that must come as a POST's answer
        else window.location.assign(data.redirect);
      } catch (error) {
        status.textContent = explain(root, error);
        button.disabled = false;
      }
    };
    if (root.tagName === "FORM") root.addEventListener("submit", start);
    else button.addEventListener("click", start);
  }

  document.querySelectorAll("form[data-webauthn-register]").forEach((form) => {
    setup(form, async () => {
      const name = form.elements.namedItem("name").value;
      const options = await post(form, form.dataset.optionsUrl, { name: name });
      const credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
      return post(form, form.dataset.verifyUrl, { name: name, credential: credentialJSON(credential) });
    });
  });

  document.querySelectorAll("[data-webauthn-login]").forEach((root) => {
    setup(root, async () => {
      const options = await post(root, root.dataset.optionsUrl, {});
      const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
      return post(root, root.dataset.verifyUrl, { credential: credentialJSON(credential) });
    });
  });
})();
