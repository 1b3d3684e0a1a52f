// The TV panel: live from the display socket, resuming with ?since after any disconnect.
"use strict";

(function () {
  const match = location.pathname.match(/\/clinics\/(\d+)\/tv/);
  const clinicId = match ? match[1] : null;
  const services = new URLSearchParams(location.search).get("services");
  const ARROWS = { left: "←", right: "→", straight: "↑", up: "⇧", down: "⇩" };
  const state = { lastSeq: null, current: null, history: [], socket: null, backoff: 500, soundOn: false };
  window.clinicTv = state; // for operators' consoles (and tests): lastSeq, connection

  const $ = (id) => document.getElementById(id);

  function setConnection(value) {
    document.body.dataset.connection = value;
  }

  function renderCurrent(call) {
    $("current-code").textContent = call ? call.code : "---";
    $("current-room").textContent = call ? call.room : "Aguardando chamadas";
    $("current-route").textContent = call ? call.route_text : "";
    $("current-arrow").textContent = call ? ARROWS[call.direction] || "" : "";
    $("current-service").textContent = call ? call.service : "";
  }

  function renderHistory() {
    const list = $("history");
    list.replaceChildren();
    for (const call of state.history.slice(0, 5)) {
      const item = document.createElement("li");
      const code = document.createElement("span");
      code.className = "code";
      code.textContent = call.code;
      const room = document.createElement("span");
      room.className = "room";
      room.textContent = call.room;
      item.append(code, room);
      list.append(item);
    }
  }

  function renderNext(next) {
    $("next-code").textContent = next ? next.code : "—";
    $("next-service").textContent = next ? next.service : "";
  }

  function speak(call) {
    if (!state.soundOn || !("speechSynthesis" in window)) return;
    const [letters, number] = call.code.split("-");
    const spelled = letters.split("").join(", ");
    const text = `Senha ${spelled}, ${parseInt(number, 10)}. ${call.room}.`;
    try {
      const utterance = new SpeechSynthesisUtterance(text);
      utterance.lang = "pt-BR";
      utterance.rate = 0.9;
      window.speechSynthesis.speak(utterance);
    } catch (error) {
      console.warn("speech synthesis unavailable", error);
    }
  }

  function flash() {
    const panel = $("current");
    panel.classList.remove("flash");
    void panel.offsetWidth; // restart the animation
    panel.classList.add("flash");
  }

  async function refreshNext() {
    try {
      const query = services ? `?services=${encodeURIComponent(services)}` : "";
      const response = await fetch(`/api/v1/clinics/${clinicId}/display${query}`);
      if (response.ok) renderNext((await response.json()).next);
    } catch (error) {
      /* the socket's reconnect loop reports the outage */
    }
  }

  function onSnapshot(message) {
    state.current = message.current;
    state.history = message.history || [];
    state.lastSeq = message.seq;
    renderCurrent(state.current);
    renderHistory();
    renderNext(message.next);
  }

  function onCall(message) {
    if (state.current) state.history.unshift(state.current);
    state.history = state.history.slice(0, 5);
    state.current = message;
    renderCurrent(message);
    renderHistory();
    flash();
    speak(message);
    refreshNext();
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const params = new URLSearchParams();
    if (services) params.set("services", services);
    if (state.lastSeq !== null) params.set("since", String(state.lastSeq));
    const query = params.toString() ? `?${params}` : "";
    const socket = new WebSocket(`${scheme}://${location.host}/api/v1/clinics/${clinicId}/ws/display${query}`);
    state.socket = socket;
    socket.onopen = () => {
      state.backoff = 500;
      setConnection("live");
    };
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "display.snapshot") onSnapshot(message);
      else if (message.type === "ticket.called") {
        if (typeof message.seq === "number") state.lastSeq = message.seq;
        onCall(message);
      }
    };
    socket.onclose = () => {
      setConnection("reconnecting");
      const delay = state.backoff;
      state.backoff = Math.min(state.backoff * 2, 5000);
      setTimeout(connect, delay);
    };
  }

  function tick() {
    $("clock").textContent = new Date().toLocaleTimeString("pt-BR", { hour: "2-digit", minute: "2-digit" });
  }

  async function start() {
    if (!clinicId) return;
    try {
      const response = await fetch(`/api/v1/clinics/${clinicId}`);
      if (response.ok) {
        const clinic = await response.json();
        $("clinic-name").textContent = clinic.name;
        document.title = `${clinic.name} – chamadas`;
      }
    } catch (error) {
      /* the name is cosmetic */
    }
    $("enable-sound").addEventListener("click", () => {
      state.soundOn = true;
      $("enable-sound").hidden = true;
      if ("speechSynthesis" in window) window.speechSynthesis.speak(new SpeechSynthesisUtterance(""));
    });
    tick();
    setInterval(tick, 10000);
    setInterval(refreshNext, 15000);
    connect();
  }

  start();
})();
