// The kiosk: pick a service, a priority and (optionally) a name; show the issued code, ready to print.
"use strict";

(function () {
  const match = location.pathname.match(/\/clinics\/(\d+)\/totem/);
  const clinicId = match ? match[1] : null;
  const $ = (id) => document.getElementById(id);
  const PRIORITY_NAMES = { normal: "Atendimento normal", preferential: "Atendimento preferencial" };
  let chosen = null;
  let clinicName = "";
  let resetTimer = null;

  function show(step) {
    for (const id of ["step-services", "step-details", "step-ticket"]) $(id).hidden = id !== step;
  }

  async function loadServices() {
    const response = await fetch(`/api/v1/clinics/${clinicId}/services`);
    const services = response.ok ? await response.json() : [];
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
      const prefix = document.createElement("span");
      prefix.className = "service-prefix";
      prefix.textContent = service.route_text || service.prefix;
      button.append(name, prefix);
      button.addEventListener("click", () => choose(service));
      container.append(button);
    }
    $("services-empty").hidden = services.length > 0;
  }

  function choose(service) {
    chosen = service;
    $("chosen-service").textContent = service.name;
    const normal = $("choice-normal");
    const preferential = $("choice-preferential");
    normal.hidden = service.accepts === "priority";
    preferential.hidden = service.accepts === "normal";
    const first = service.accepts === "priority" ? "preferential" : "normal";
    document.querySelector(`input[name=priority][value=${first}]`).checked = true;
    $("patient-name").value = "";
    $("error").hidden = true;
    show("step-details");
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
    try {
      const response = await fetch(`/api/v1/clinics/${clinicId}/tickets`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": key },
        body: JSON.stringify(body),
      });
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.detail || "Não foi possível emitir a senha");
      showTicket(answer);
    } catch (error) {
      $("error").textContent = error.message;
      $("error").hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  function showTicket(ticket) {
    $("ticket-clinic").textContent = clinicName;
    $("ticket-code").textContent = ticket.code;
    $("ticket-service").textContent = ticket.service;
    $("ticket-priority").textContent = PRIORITY_NAMES[ticket.priority] || ticket.priority;
    $("ticket-ahead").textContent =
      ticket.waiting_ahead === 0 ? "Você é o próximo" : `${ticket.waiting_ahead} pessoa(s) na sua frente`;
    $("ticket-time").textContent = new Date(ticket.issued_at).toLocaleString("pt-BR");
    show("step-ticket");
    clearTimeout(resetTimer);
    resetTimer = setTimeout(reset, 30000);
  }

  function reset() {
    clearTimeout(resetTimer);
    chosen = null;
    show("step-services");
    loadServices();
  }

  async function start() {
    if (!clinicId) return;
    try {
      const response = await fetch(`/api/v1/clinics/${clinicId}`);
      if (response.ok) {
        clinicName = (await response.json()).name;
        $("clinic-name").textContent = clinicName;
        document.title = `${clinicName} – retire sua senha`;
      }
    } catch (error) {
      /* cosmetic */
    }
    $("back").addEventListener("click", reset);
    $("issue").addEventListener("click", issue);
    $("print").addEventListener("click", () => window.print());
    $("done").addEventListener("click", reset);
    await loadServices();
    setInterval(() => {
      if (!$("step-services").hidden) loadServices();
    }, 30000);
  }

  start();
})();
