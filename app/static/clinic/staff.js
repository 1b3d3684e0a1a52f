// What the staff pages (the desk and the dashboard) share: the clinic id from the address, API calls with the
// cookie session and its CSRF token, the login form, a page's texts put in place from its messages object, and
// durations written in Portuguese. Loaded before the page's own script.
"use strict";

(function () {
  const match = location.pathname.match(/\/clinics\/(\d+)\//);
  const clinicId = match ? match[1] : null;
  let csrf = null;

  const $ = (id) => document.getElementById(id);

  // Every text of a page lives in its messages object: elements name theirs with data-msg (text),
  // data-msg-label (aria-label) or data-msg-title (document title).
  function applyMessages(messages) {
    for (const el of document.querySelectorAll("[data-msg]")) el.textContent = messages[el.dataset.msg] || "";
    for (const el of document.querySelectorAll("[data-msg-label]")) {
      el.setAttribute("aria-label", messages[el.dataset.msgLabel] || "");
    }
    const title = document.querySelector("[data-msg-title]");
    if (title) document.title = messages[title.dataset.msgTitle] || document.title;
  }

  async function csrfToken(fresh) {
    if (!csrf || fresh) {
      const answer = await api("/api/v1/csrftoken");
      csrf = answer.body && answer.body.csrf_token;
    }
    return csrf;
  }

  // {ok, status, body}; a network failure is status 0. Unsafe methods carry the CSRF token.
  async function api(path, options = {}) {
    const init = Object.assign({ credentials: "same-origin" }, options);
    init.headers = Object.assign({}, options.headers || {});
    if (init.method && init.method !== "GET") {
      init.headers["X-CSRF-Token"] = await csrfToken(false);
      if (options.json !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(options.json);
      }
    }
    delete init.json;
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      return { ok: false, status: 0, body: null };
    }
    let body = null;
    if (response.status !== 204) {
      try {
        body = await response.json();
      } catch (error) {
        body = null;
      }
    }
    return { ok: response.ok, status: response.status, body };
  }

  const clinicApi = (path, options) => api(`/api/v1/clinics/${clinicId}${path}`, options);

  async function me() {
    const answer = await api("/api/v1/auth/session");
    return answer.ok && answer.body ? answer.body.user : null;
  }

  // The texts every staff page shares; a page's messages object starts from these.
  const MESSAGES = {
    logout: "Sair",
    email: "E-mail",
    password: "Senha",
    login: "Entrar",
    loginFailed: "E-mail ou senha incorretos.",
    loginTooMany: "Muitas tentativas. Aguarde um minuto e tente de novo.",
    unreachable: "Sem conexão com o servidor. Tente de novo.",
  };

  function element(tag, attributes, children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) el.setAttribute(name, value);
    el.append(...(children || []));
    return el;
  }

  // The login form, built into #login-panel with the page's texts; calls onLogin with the user once logged in.
  function loginForm(messages, onLogin) {
    const field = (id, type, autocomplete, label) =>
      element("label", {}, [
        element("span", {}, [messages[label]]),
        element("input", { type, id, autocomplete, required: "" }),
      ]);
    $("login-panel").replaceChildren(
      element("h2", { id: "login-title" }, [messages.loginTitle]),
      element("form", { id: "login-form" }, [
        field("login-email", "email", "username", "email"),
        field("login-password", "password", "current-password", "password"),
        element("button", { type: "submit", class: "primary" }, [messages.login]),
        element("p", { id: "login-error", class: "error", role: "alert" }),
      ]),
    );
    $("login-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      $("login-error").textContent = "";
      await csrfToken(true);
      const answer = await api("/api/v1/users/loginuser", {
        method: "POST",
        json: { email: $("login-email").value, password: $("login-password").value },
      });
      if (!answer.ok) {
        $("login-error").textContent = answer.status === 429 ? messages.loginTooMany : messages.loginFailed;
        return;
      }
      $("login-password").value = "";
      onLogin(await me());
    });
  }

  async function logout() {
    await api("/api/v1/users/logout", { method: "POST" });
  }

  async function clinicName() {
    const answer = await clinicApi("");
    return answer.ok ? answer.body.name : "";
  }

  // 75 -> "1 min 15 s"; 3700 -> "1 h 1 min".
  function duration(seconds) {
    if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
    const total = Math.max(0, Math.round(seconds));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    if (h) return `${h} h ${m} min`;
    if (m) return `${m} min ${s} s`;
    return `${s} s`;
  }

  window.ClinicStaff = { clinicId, MESSAGES, $, applyMessages, api, clinicApi, me, loginForm, logout, clinicName, duration };
})();
