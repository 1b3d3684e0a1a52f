// The kiosk: pick a service, a priority and (optionally) a name; show the issued code with a QR code of the
// ticket's public page, ready to print. Offline, it says so and retries by itself; idle, it returns to the start.
"use strict";

(function () {
  // Every word the kiosk shows, in one place (to translate, change only this; the <noscript> is the exception).
  const TEXT = {
    title: "Retire sua senha",
    titleOf: (clinic) => `${clinic} – retire sua senha`,
    welcome: "Bem-vindo",
    instruction: "Toque no serviço desejado para retirar sua senha",
    noServices: "Nenhum serviço disponível no momento. Dirija-se à recepção.",
    priorityLegend: "Tipo de atendimento",
    normal: "Normal",
    preferential: "Preferencial",
    preferentialHint: "Idosos, gestantes, pessoas com deficiência",
    nameLabel: "Seu nome (opcional)",
    back: "Voltar",
    issue: "Emitir senha",
    chooseAgain: "Escolher outro serviço",
    yourTicket: "Sua senha",
    waitHint: "Aguarde ser chamado no painel.",
    qrHint: "Acompanhe sua senha pelo celular",
    print: "Imprimir",
    done: "Concluir",
    priorities: { normal: "Atendimento normal", preferential: "Atendimento preferencial" },
    ahead: (n) => (n === 0 ? "Você é o próximo" : n === 1 ? "1 pessoa na sua frente" : `${n} pessoas na sua frente`),
    offlineTitle: "Sem conexão no momento",
    offlineText: "Tentando novamente… Se precisar de atendimento agora, dirija-se à recepção.",
    errors: {
      unavailable: "Este serviço não está disponível agora. Escolha outro serviço ou dirija-se à recepção.",
      soldOut: "As senhas deste serviço acabaram por hoje. Dirija-se à recepção.",
      busy: "Muitas senhas ao mesmo tempo. Aguarde um instante e tente novamente.",
      other: "Não foi possível emitir a senha. Tente novamente ou dirija-se à recepção.",
    },
  };
  // Back to the start after a minute without a touch (?idle=<seconds>, 5 to 600, for a kiosk that needs another
  // delay; anything else is ignored); the ticket stays on screen half as long.
  const idleSeconds = Number(new URLSearchParams(location.search).get("idle"));
  const IDLE_MS = Number.isInteger(idleSeconds) && idleSeconds >= 5 && idleSeconds <= 600 ? idleSeconds * 1000 : 60000;
  const TICKET_MS = IDLE_MS / 2;
  const RETRY_MS = 3000;

  const match = location.pathname.match(/\/clinics\/(\d+)\/totem/);
  const clinicId = match ? match[1] : null;
  const $ = (id) => document.getElementById(id);
  const STEPS = ["step-services", "step-details", "step-ticket", "step-offline"];
  let chosen = null;
  let clinicName = "";
  let idleTimer = null;
  let retryTimer = null;

  function show(step) {
    for (const id of STEPS) $(id).hidden = id !== step;
    // The instruction belongs to the first step only.
    $("instruction").hidden = step !== "step-services";
    document.body.dataset.step = step;
    armIdle(step === "step-ticket" ? TICKET_MS : IDLE_MS);
  }

  function armIdle(delay) {
    clearTimeout(idleTimer);
    if (!$("step-services").hidden || !$("step-offline").hidden) return;
    idleTimer = setTimeout(reset, delay);
  }

  function offline() {
    show("step-offline");
    clearTimeout(retryTimer);
    retryTimer = setTimeout(reset, RETRY_MS);
  }

  async function loadServices() {
    const response = await fetch(`/api/v1/clinics/${clinicId}/services`);
    if (!response.ok) throw new Error(`services: ${response.status}`);
    const services = await response.json();
    const container = $("services");
    container.replaceChildren();
    for (const service of services) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "service-button";
      button.setAttribute("role", "listitem");
      button.dataset.serviceId = String(service.id);
      const name = document.createElement("span");
      name.className = "service-name";
      name.textContent = service.name;
      const where = document.createElement("span");
      where.className = "service-prefix";
      where.textContent = service.route_text || service.prefix;
      button.append(name, where);
      button.addEventListener("click", () => choose(service));
      container.append(button);
    }
    $("services-empty").hidden = services.length > 0;
  }

  function choose(service) {
    chosen = service;
    $("chosen-service").textContent = service.name;
    $("choice-normal").hidden = service.accepts === "priority";
    $("choice-preferential").hidden = service.accepts === "normal";
    const first = service.accepts === "priority" ? "preferential" : "normal";
    document.querySelector(`input[name=priority][value=${first}]`).checked = true;
    $("patient-name").value = "";
    $("error").hidden = true;
    $("details-actions").hidden = false;
    show("step-details");
  }

  // What a patient reads for a refusal: never the API's technical text.
  function refusal(status) {
    if (status === 409) return TEXT.errors.soldOut;
    if ([400, 403, 404, 422].includes(status)) return TEXT.errors.unavailable; // the service closed meanwhile
    if (status === 429) return TEXT.errors.busy;
    return TEXT.errors.other;
  }

  async function issue() {
    const button = $("issue");
    button.disabled = true;
    $("error").hidden = true;
    const priority = document.querySelector("input[name=priority]:checked").value;
    const body = { service_id: chosen.id, priority };
    const name = $("patient-name").value.trim();
    if (name) body.patient_name = name;
    const key = window.crypto && crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random();
    let response;
    try {
      response = await fetch(`/api/v1/clinics/${clinicId}/tickets`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": key },
        body: JSON.stringify(body),
      });
    } catch (error) {
      button.disabled = false;
      offline();
      return;
    }
    button.disabled = false;
    if (response.ok) {
      showTicket(await response.json());
      return;
    }
    if (response.status >= 500) {
      offline();
      return;
    }
    $("error-text").textContent = refusal(response.status);
    $("error").hidden = false;
    $("details-actions").hidden = true; // the message's own button is the way on
  }

  function drawQr(url) {
    const box = $("ticket-qr");
    box.replaceChildren();
    box.setAttribute("aria-label", TEXT.qrHint);
    if (typeof window.qrcode !== "function") return;
    const code = window.qrcode(0, "M");
    code.addData(url);
    code.make();
    // The library's SVG markup (no script); parsed as SVG so nothing of it runs.
    const svg = new DOMParser().parseFromString(code.createSvgTag({ cellSize: 4, margin: 2, scalable: true }),
      "image/svg+xml").documentElement;
    box.append(document.importNode(svg, true));
    box.dataset.url = url;
  }

  function showTicket(ticket) {
    $("ticket-clinic").textContent = clinicName;
    $("ticket-code").textContent = ticket.code;
    $("ticket-service").textContent = ticket.service;
    $("ticket-priority").textContent = TEXT.priorities[ticket.priority] || ticket.priority;
    $("ticket-ahead").textContent = TEXT.ahead(ticket.waiting_ahead);
    $("ticket-time").textContent = new Date(ticket.issued_at).toLocaleString("pt-BR", {
      dateStyle: "short", timeStyle: "short",
    });
    drawQr(new URL(ticket.follow_url, location.origin).href);
    show("step-ticket");
  }

  async function reset() {
    clearTimeout(idleTimer);
    clearTimeout(retryTimer);
    chosen = null;
    try {
      await loadServices();
      show("step-services");
    } catch (error) {
      offline();
    }
  }

  async function start() {
    for (const element of document.querySelectorAll("[data-text]")) element.textContent = TEXT[element.dataset.text];
    document.title = TEXT.title;
    if (!clinicId) return;
    try {
      const response = await fetch(`/api/v1/clinics/${clinicId}`);
      if (response.ok) {
        clinicName = (await response.json()).name;
        $("clinic-name").textContent = clinicName;
        document.title = TEXT.titleOf(clinicName);
      }
    } catch (error) {
      /* cosmetic */
    }
    $("back").addEventListener("click", reset);
    $("error-back").addEventListener("click", reset);
    $("issue").addEventListener("click", issue);
    $("print").addEventListener("click", () => window.print());
    $("done").addEventListener("click", reset);
    // Any touch on a step other than the start keeps it open a while longer.
    for (const kind of ["pointerdown", "keydown"]) {
      document.addEventListener(kind, () => {
        if (!$("step-details").hidden) armIdle(IDLE_MS);
      });
    }
    await reset();
    setInterval(() => {
      if (!$("step-services").hidden) loadServices().catch(offline);
    }, 30000);
  }

  start();
})();
