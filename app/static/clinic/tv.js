// The TV panel: live from the display socket, resuming with ?since after any disconnect (docs/rules/clinic.md,
// "TV"). URL switches: ?services=1,2 (only those services), ?sound=on (announce with sound from the start; the
// browser must allow autoplay: docs/operations.md, "TV panel").
"use strict";

(function () {
  // Every word the panel shows or says, in one place (to translate, change only this).
  const TEXT = {
    title: "Painel de chamadas",
    titleOf: (clinic) => `${clinic} – chamadas`,
    ticket: "Senha",
    waiting: "Aguardando chamadas",
    history: "Últimas chamadas",
    next: "Próxima senha",
    none: "—",
    live: "Conectado",
    connecting: "Conectando…",
    reconnecting: "Sem conexão",
    offline: "Sem conexão com o servidor. Reconectando… As chamadas abaixo podem estar desatualizadas.",
    enableSound: "Ativar som",
    priority: { preferential: "Preferencial", emergency: "Emergência" },
    // Read aloud: letters spelled, the number, the room, then the route when there is one.
    speech: (letters, number, room, route) =>
      `Senha ${letters}, ${number}. ${room}.` + (route ? ` ${route}.` : ""),
  };
  const ARROWS = { left: "←", right: "→", straight: "↑", up: "⇧", down: "⇩" };
  const HEALTH_CHECK_MS = 15000;

  const match = location.pathname.match(/\/clinics\/(\d+)\/tv/);
  const clinicId = match ? match[1] : null;
  const params = new URLSearchParams(location.search);
  const services = params.get("services");
  const state = {
    lastSeq: null, current: null, history: [], socket: null, backoff: 500,
    soundOn: params.get("sound") === "on", audio: null,
  };
  window.clinicTv = state; // for operators' consoles (and tests): lastSeq, connection

  const $ = (id) => document.getElementById(id);

  // Shrinks a line's text until it fits its box: long room names and routes never wrap or spill.
  function fit(element) {
    element.style.fontSize = "";
    let size = parseFloat(getComputedStyle(element).fontSize);
    while (element.scrollWidth > element.clientWidth + 1 && size > 8) {
      size *= 0.92;
      element.style.fontSize = `${size}px`;
    }
  }

  function fitAll() {
    for (const element of document.querySelectorAll("[data-fit]")) fit(element);
  }

  function setConnection(value) {
    document.body.dataset.connection = value;
    $("connection-text").textContent = TEXT[value];
    $("offline").hidden = value !== "reconnecting";
  }

  function priorityMark(element, priority) {
    const label = TEXT.priority[priority];
    element.hidden = !label;
    element.textContent = label || "";
    element.dataset.priority = priority || "normal";
  }

  function renderCurrent(call) {
    $("current-code").textContent = call ? call.code : "---";
    $("current-room").textContent = call ? call.room : TEXT.waiting;
    $("current-route").textContent = call ? call.route_text : "";
    $("current-arrow").textContent = call && call.route_text ? ARROWS[call.direction] || "" : "";
    $("current-service").textContent = call ? call.service : "";
    priorityMark($("current-priority"), call && call.priority);
    fitAll();
  }

  function renderHistory() {
    const list = $("history");
    list.replaceChildren();
    for (const call of state.history.slice(0, 5)) {
      const item = document.createElement("li");
      const code = document.createElement("span");
      code.className = "code";
      code.textContent = call.code;
      const mark = document.createElement("span");
      mark.className = "priority";
      priorityMark(mark, call.priority);
      const room = document.createElement("span");
      room.className = "room";
      room.dataset.fit = "";
      room.textContent = call.room;
      item.append(code, mark, room);
      list.append(item);
    }
    for (const room of list.querySelectorAll(".room")) fit(room);
  }

  function renderNext(next) {
    $("next-code").textContent = next ? next.code : TEXT.none;
    $("next-service").textContent = next ? next.service : "";
    fit($("next-service"));
  }

  // A short two-note chime (Web Audio, no file to load), then the voice.
  function chime() {
    const AudioContext = window.AudioContext || window.webkitAudioContext;
    if (!AudioContext) return Promise.resolve();
    state.audio = state.audio || new AudioContext();
    const context = state.audio;
    const start = context.currentTime + 0.05;
    [[880, 0], [660, 0.35]].forEach(([frequency, offset]) => {
      const oscillator = context.createOscillator();
      const gain = context.createGain();
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.4, start + offset + 0.03);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.6);
      oscillator.connect(gain).connect(context.destination);
      oscillator.start(start + offset);
      oscillator.stop(start + offset + 0.65);
    });
    return new Promise((resolve) => setTimeout(resolve, 1000));
  }

  function speak(call) {
    if (!("speechSynthesis" in window)) return;
    const [letters, number] = call.code.split("-");
    const text = TEXT.speech(letters.split("").join(" "), parseInt(number, 10), call.room, call.route_text);
    try {
      const utterance = new SpeechSynthesisUtterance(text);
      utterance.lang = "pt-BR";
      utterance.rate = 0.9;
      window.speechSynthesis.speak(utterance);
    } catch (error) {
      console.warn("speech synthesis unavailable", error);
    }
  }

  function announce(call) {
    if (!state.soundOn) return;
    chime().then(() => speak(call));
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
      // A network that vanished without closing the socket shows here first.
      setConnection("reconnecting");
      if (state.socket) state.socket.close();
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

  // Each ticket once, latest call first (the snapshot's history follows the same rule).
  function onCall(message) {
    if (state.current && state.current.code !== message.code) state.history.unshift(state.current);
    state.history = state.history.filter((call) => call.code !== message.code).slice(0, 5);
    state.current = message;
    renderCurrent(message);
    renderHistory();
    flash();
    announce(message);
    refreshNext();
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = new URLSearchParams();
    if (services) query.set("services", services);
    if (state.lastSeq !== null) query.set("since", String(state.lastSeq));
    const suffix = query.toString() ? `?${query}` : "";
    const socket = new WebSocket(`${scheme}://${location.host}/api/v1/clinics/${clinicId}/ws/display${suffix}`);
    state.socket = socket;
    socket.onopen = () => {
      state.backoff = 500;
      setConnection("live");
      refreshNext();
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
      if (state.socket !== socket) return;
      setConnection("reconnecting");
      const delay = state.backoff;
      state.backoff = Math.min(state.backoff * 2, 4000);
      setTimeout(connect, delay);
    };
  }

  function tick() {
    $("clock").textContent = new Date().toLocaleTimeString("pt-BR", { hour: "2-digit", minute: "2-digit" });
  }

  function soundPrompt() {
    const button = $("enable-sound");
    button.textContent = TEXT.enableSound;
    // With ?sound=on the prompt shows only if the browser still blocked the audio; it never covers a call.
    const blocked = state.soundOn && state.audio && state.audio.state === "suspended";
    button.hidden = state.soundOn && !blocked;
    button.addEventListener("click", () => {
      state.soundOn = true;
      button.hidden = true;
      if (state.audio) state.audio.resume();
      if ("speechSynthesis" in window) window.speechSynthesis.speak(new SpeechSynthesisUtterance(""));
    });
  }

  async function start() {
    for (const element of document.querySelectorAll("[data-text]")) element.textContent = TEXT[element.dataset.text];
    document.title = TEXT.title;
    setConnection("connecting");
    if (!clinicId) return;
    if (state.soundOn && (window.AudioContext || window.webkitAudioContext)) {
      state.audio = new (window.AudioContext || window.webkitAudioContext)();
    }
    soundPrompt();
    try {
      const response = await fetch(`/api/v1/clinics/${clinicId}`);
      if (response.ok) {
        const clinic = await response.json();
        $("clinic-name").textContent = clinic.name;
        document.title = TEXT.titleOf(clinic.name);
      }
    } catch (error) {
      /* the name is cosmetic */
    }
    fitAll();
    window.addEventListener("resize", fitAll);
    tick();
    setInterval(tick, 10000);
    setInterval(refreshNext, HEALTH_CHECK_MS);
    connect();
  }

  start();
})();
