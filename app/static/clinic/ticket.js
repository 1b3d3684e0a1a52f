// A ticket's public page (the kiosk's QR code): its status and how many are ahead, kept current. The clinic's
// display feed (the TV's, public) says at once when anyone is called; the ticket's own endpoint is read then and
// every POLL_MS anyway (docs/rules/clinic.md, "Pages"), so a phone that lost the feed still catches up.
"use strict";

(function () {
  // Every word the page shows, in one place (to translate, change only this).
  const TEXT = {
    title: "Sua senha",
    yourTicket: "Sua senha",
    notFound: "Senha não encontrada. Confira o endereço ou dirija-se à recepção.",
    offline: "Sem conexão. Tentando novamente…",
    status: {
      waiting: "Aguardando ser chamado",
      called: (room) => (room ? `Sua senha foi chamada: dirija-se a ${room}` : "Sua senha foi chamada"),
      in_service: "Em atendimento",
      no_show: "Chamada sem comparecimento. Dirija-se à recepção.",
      done: "Atendimento concluído. Obrigado!",
      forwarded: "Encaminhado",
      cancelled: "Senha cancelada",
    },
    ahead: (n) => (n === 0 ? "Você é o próximo" : n === 1 ? "1 pessoa na sua frente" : `${n} pessoas na sua frente`),
    updated: (time) => `Atualizado às ${time}`,
  };
  const POLL_MS = 12000;
  const FINAL = new Set(["done", "cancelled", "no_show"]);

  const match = location.pathname.match(/\/clinics\/(\d+)\/tickets\/([^/]+)$/);
  const clinicId = match ? match[1] : null;
  const token = match ? match[2] : null;
  const $ = (id) => document.getElementById(id);
  let finished = false;
  let socket = null;

  function render(ticket) {
    document.body.dataset.status = ticket.status;
    $("code").textContent = ticket.code;
    $("service").textContent = ticket.service;
    const status = TEXT.status[ticket.status];
    $("status").textContent = typeof status === "function" ? status(ticket.room) : status || ticket.status;
    $("ahead").textContent = ticket.status === "waiting" && ticket.position ? TEXT.ahead(ticket.position - 1) : "";
    const time = new Date().toLocaleTimeString("pt-BR", { hour: "2-digit", minute: "2-digit" });
    $("updated").textContent = TEXT.updated(time);
    finished = FINAL.has(ticket.status);
    if (finished && socket) socket.close();
  }

  async function refresh() {
    try {
      const response = await fetch(`/api/v1/clinics/${clinicId}/tickets/${encodeURIComponent(token)}`);
      if (response.status === 404) {
        document.body.dataset.status = "not_found";
        $("code").textContent = "—";
        $("status").textContent = TEXT.notFound;
        finished = true;
        return;
      }
      if (response.ok) render(await response.json());
    } catch (error) {
      $("updated").textContent = TEXT.offline;
    }
  }

  function listen() {
    if (finished) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/api/v1/clinics/${clinicId}/ws/display`);
    socket.onmessage = (event) => {
      if (JSON.parse(event.data).type === "ticket.called") refresh();
    };
    socket.onclose = () => {
      socket = null;
      if (!finished) setTimeout(listen, POLL_MS);
    };
  }

  async function start() {
    for (const element of document.querySelectorAll("[data-text]")) element.textContent = TEXT[element.dataset.text];
    document.title = TEXT.title;
    if (!clinicId) return;
    await refresh();
    listen();
    setInterval(() => {
      if (!finished) refresh();
    }, POLL_MS);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && !finished) refresh();
    });
  }

  start();
})();
