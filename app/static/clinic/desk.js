// The staff desk: log in, take a room, follow the waiting line live (the staff queue socket: a snapshot, then
// every change of a step and of the rooms, resumed with ?since after a disconnect) and act on the current patient.
// The socket closing with 4401/4403 means the session ended or the right was lost: the page asks for a login.
"use strict";

(function () {
  const S = window.ClinicStaff;
  const $ = S.$;

  const MSG = Object.assign({}, S.MESSAGES, {
    pageTitle: "Mesa de atendimento",
    subtitle: "Mesa de atendimento",
    loginTitle: "Entre para atender",
    room: "Sala",
    takeRoom: "Ocupar sala",
    leaveRoom: "Deixar sala",
    myRoom: (name) => `Você está na ${name}.`,
    noRoom: "Ocupe uma sala para chamar pacientes.",
    roomFree: "livre",
    roomTakenBy: (name, who) => `${name}: ${who}`,
    roomOption: (name, who) => (who ? `${name} (ocupada: ${who})` : name),
    someone: "ocupada",
    currentTitle: "Paciente atual",
    service: "Serviço",
    priority: "Prioridade",
    patient: "Paciente",
    waited: "Esperou",
    nobody: "Nenhum paciente chamado",
    callNext: "Chamar próximo",
    recall: "Chamar novamente",
    start: "Iniciar atendimento",
    finish: "Finalizar",
    finishAndForward: "Finalizar e encaminhar",
    forwardTo: "Encaminhar para",
    noForward: "Não encaminhar",
    noShow: "Não compareceu",
    cancel: "Cancelar senha",
    reactivate: "Voltar para a fila",
    queueTitle: "Fila de espera",
    queueEmpty: "Ninguém aguardando.",
    inProgressTitle: "Em atendimento nas mesas",
    inProgressEmpty: "Nenhuma senha chamada ou em atendimento.",
    roomsTitle: "Salas",
    waitingFor: (d) => `há ${d}`,
    at: (room) => (room ? `na ${room}` : ""),
    forYou: "encaminhada a você",
    forOther: "encaminhada a outra pessoa",
    live: "Ao vivo",
    connecting: "Conectando…",
    reconnecting: "Reconectando…",
    offline: "Desconectado",
    sessionEnded: "Sua sessão terminou (saída em outra janela ou tempo esgotado). Entre novamente.",
    rightLost: "Você não faz mais parte da equipe desta clínica. Entre novamente com outra conta.",
    notStaff: "Esta conta não faz parte da equipe desta clínica. Entre com outra conta.",
    status: {
      waiting: "Na fila",
      called: "Chamado",
      in_service: "Em atendimento",
      done: "Atendimento finalizado",
      forwarded: "Encaminhado",
      no_show: "Não compareceu",
      cancelled: "Cancelado",
    },
    statusWord: {
      waiting: "na fila",
      called: "chamada",
      in_service: "em atendimento",
      done: "finalizada",
      forwarded: "encaminhada",
      no_show: "marcada como não compareceu",
      cancelled: "cancelada",
    },
    priorities: { normal: "Normal", preferential: "Preferencial", emergency: "Emergência" },
    called: (code) => `Senha ${code} chamada.`,
    recalled: (code) => `Senha ${code} chamada novamente.`,
    started: (code) => `Atendimento de ${code} iniciado.`,
    finished: (code) => `Atendimento de ${code} finalizado.`,
    forwarded: (code, service) => `${code} encaminhada para ${service}.`,
    noShowDone: (code) => `${code} marcada como não compareceu.`,
    cancelledDone: (code) => `Senha ${code} cancelada.`,
    reactivated: (code) => `${code} voltou para a fila.`,
    queueIsEmpty: "Ninguém aguardando nos seus serviços.",
    roomTaken: (name) => `Você ocupou a ${name}.`,
    roomLeft: (name) => `Você deixou a ${name}.`,
    refusedStatus: (code, status) => `Não foi possível: a senha ${code} já está ${status}.`,
    needRoom: "Ocupe uma sala antes de chamar.",
    roomOccupied: "Esta sala está ocupada por outra pessoa.",
    holdingAnother: "Finalize, encaminhe ou cancele a senha atual antes de chamar outra.",
    forwardedToOther: "Esta senha foi encaminhada a outra pessoa.",
    notFound: "Esta senha não existe mais.",
    forbidden: "Você não tem permissão para isso.",
    invalid: "Pedido inválido. Confira os dados e tente de novo.",
    failed: "Algo deu errado. Tente de novo.",
  });
  const RANK = { emergency: 3, preferential: 2, normal: 1 };
  const HELD = new Set(["called", "in_service"]);

  const state = {
    me: null,
    rooms: [],
    services: [],
    waiting: new Map(),
    inProgress: new Map(),
    current: null,
    lastSeq: null,
    socket: null,
    backoff: 500,
    busy: false,
  };
  window.clinicDesk = state; // for operators' consoles (and tests)

  const myRoom = () => state.rooms.find((room) => state.me && room.occupied_by === state.me.id) || null;
  const seconds = (from, to) => (from && to ? (Date.parse(to) - Date.parse(from)) / 1000 : null);

  function setConnection(value) {
    document.body.dataset.connection = value;
    $("connection").textContent = MSG[value];
  }

  function feedback(text, good) {
    const el = $("feedback");
    el.textContent = text;
    el.className = "feedback " + (good ? "good" : "bad");
  }

  function showBanner(text) {
    $("banner").textContent = text;
    $("banner").hidden = !text;
  }

  // Rendering -----------------------------------------------------------------------------------------------

  function stepItem(step, extra) {
    const item = document.createElement("li");
    item.dataset.stepId = step.step_id;
    item.dataset.priority = step.priority;
    const code = document.createElement("span");
    code.className = "code";
    code.textContent = step.code;
    const service = document.createElement("span");
    service.className = "service";
    service.textContent = step.service;
    const priority = document.createElement("span");
    priority.className = "tag tag-" + step.priority;
    priority.textContent = MSG.priorities[step.priority];
    const info = document.createElement("span");
    info.className = "info";
    info.textContent = extra;
    item.append(code, service, priority, info);
    return item;
  }

  function renderQueue() {
    const now = Date.now();
    const waiting = [...state.waiting.values()].sort(
      (a, b) =>
        RANK[b.priority] - RANK[a.priority] || Date.parse(a.queued_at) - Date.parse(b.queued_at) || a.step_id - b.step_id,
    );
    $("waiting").replaceChildren(
      ...waiting.map((step) => {
        let extra = MSG.waitingFor(S.duration((now - Date.parse(step.arrived_at)) / 1000));
        if (step.target_attendant_id) {
          extra += " · " + (state.me && step.target_attendant_id === state.me.id ? MSG.forYou : MSG.forOther);
        }
        return stepItem(step, extra);
      }),
    );
    $("waiting-count").textContent = String(waiting.length);
    $("waiting-empty").hidden = waiting.length > 0;
    const held = [...state.inProgress.values()].sort((a, b) => Date.parse(a.called_at) - Date.parse(b.called_at));
    $("in-progress").replaceChildren(
      ...held.map((step) => stepItem(step, `${MSG.status[step.status]} ${MSG.at(step.room)}`)),
    );
    $("in-progress-empty").hidden = held.length > 0;
  }

  function renderRooms() {
    const mine = myRoom();
    $("rooms").replaceChildren(
      ...state.rooms.map((room) => {
        const item = document.createElement("li");
        item.dataset.roomId = room.id;
        item.className = room.occupied_by ? "taken" : "free";
        item.textContent = MSG.roomTakenBy(room.name, room.occupied_by ? room.occupied_by_name || MSG.someone : MSG.roomFree);
        return item;
      }),
    );
    const select = $("room-select");
    const chosen = select.value;
    select.replaceChildren(
      ...state.rooms.map((room) => {
        const option = document.createElement("option");
        option.value = room.id;
        const other = room.occupied_by && (!state.me || room.occupied_by !== state.me.id);
        option.textContent = MSG.roomOption(room.name, other ? room.occupied_by_name || MSG.someone : "");
        return option;
      }),
    );
    select.value = mine ? String(mine.id) : chosen || (state.rooms[0] ? String(state.rooms[0].id) : "");
    $("my-room").textContent = mine ? MSG.myRoom(mine.name) : MSG.noRoom;
    $("leave-room").hidden = !mine;
    renderActions();
  }

  function renderCurrent() {
    const step = state.current;
    $("current").dataset.status = step ? step.status : "none";
    $("current-code").textContent = step ? step.code : "—";
    $("current-status").textContent = step ? MSG.status[step.status] : MSG.nobody;
    $("current-service").textContent = step ? step.service : "—";
    $("current-priority").textContent = step ? MSG.priorities[step.priority] : "—";
    $("current-patient").textContent = (step && step.patient_name) || "—";
    const waited = step ? seconds(step.arrived_at, step.called_at) : null;
    $("current-waited").textContent = waited === null ? "—" : S.duration(waited);
    renderActions();
  }

  function renderActions() {
    const status = state.current ? state.current.status : null;
    const holding = HELD.has(status);
    const enable = (id, on) => ($(id).disabled = state.busy || !on);
    enable("call-next", !!myRoom() && !holding);
    enable("recall", holding);
    enable("start", status === "called");
    enable("no-show", status === "called");
    enable("cancel", status === "called" || status === "waiting");
    enable("reactivate", status === "no_show" || status === "cancelled");
    enable("finish", status === "in_service");
    $("forward-to").disabled = state.busy || status !== "in_service";
    $("finish").textContent = $("forward-to").value ? MSG.finishAndForward : MSG.finish;
    enable("take-room", state.rooms.length > 0 && !holding);
    enable("leave-room", !holding);
  }

  function renderServices() {
    const none = document.createElement("option");
    none.value = "";
    none.textContent = MSG.noForward;
    $("forward-to").replaceChildren(
      none,
      ...state.services.map((service) => {
        const option = document.createElement("option");
        option.value = service.id;
        option.textContent = service.name;
        return option;
      }),
    );
  }

  // The live feed ---------------------------------------------------------------------------------------------

  function applyStep(step) {
    state.waiting.delete(step.step_id);
    state.inProgress.delete(step.step_id);
    if (step.status === "waiting") state.waiting.set(step.step_id, step);
    else if (HELD.has(step.status)) state.inProgress.set(step.step_id, step);
    const current = state.current;
    const mine = state.me && step.attendant_id === state.me.id;
    if (current && current.step_id === step.step_id) {
      // Put back in line and called by another desk: no longer this desk's patient.
      const other = HELD.has(step.status) && !mine;
      state.current = other ? null : Object.assign({}, current, step);
      renderCurrent();
    } else if (mine && HELD.has(step.status)) {
      state.current = Object.assign({}, step, { patient_name: null });
      renderCurrent();
    }
  }

  function onSnapshot(message) {
    state.lastSeq = message.seq;
    state.waiting = new Map(message.waiting.map((step) => [step.step_id, step]));
    state.inProgress = new Map(message.in_progress.map((step) => [step.step_id, step]));
    state.rooms = message.rooms;
    const held = message.in_progress.find((step) => state.me && step.attendant_id === state.me.id);
    if (held) applyStep(held);
    renderQueue();
    renderRooms();
  }

  function onMessage(message) {
    if (message.type === "queue.snapshot") {
      onSnapshot(message);
      return;
    }
    if (typeof message.seq === "number") state.lastSeq = message.seq;
    if (message.type === "queue.changed" && message.step) {
      applyStep(message.step);
      renderQueue();
    } else if (message.type === "rooms.changed") {
      state.rooms = message.rooms;
      renderRooms();
    }
  }

  function sessionLost(code) {
    state.socket = null;
    setConnection("offline");
    showBanner(code === 4403 ? MSG.rightLost : MSG.sessionEnded);
    showLogin();
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = state.lastSeq !== null ? `?since=${state.lastSeq}` : "";
    const socket = new WebSocket(`${scheme}://${location.host}/api/v1/clinics/${S.clinicId}/ws/queue${query}`);
    state.socket = socket;
    setConnection(state.lastSeq === null ? "connecting" : "reconnecting");
    socket.onopen = () => {
      state.backoff = 500;
      setConnection("live");
    };
    socket.onmessage = (event) => onMessage(JSON.parse(event.data));
    socket.onclose = async (event) => {
      if (state.socket !== socket) return;
      if (event.code === 4401 || event.code === 4403) {
        sessionLost(event.code);
        return;
      }
      // A refusal before accept has no code of its own: ask who we are before trying again.
      if (!(await S.me())) {
        sessionLost(4401);
        return;
      }
      setConnection("reconnecting");
      const delay = state.backoff;
      state.backoff = Math.min(state.backoff * 2, 5000);
      setTimeout(() => {
        if (state.socket === socket) connect();
      }, delay);
    };
  }

  // Actions ---------------------------------------------------------------------------------------------------

  function refusal(answer, code) {
    const first = answer.body && answer.body.extra && answer.body.extra[0];
    if (answer.status === 0) return MSG.unreachable;
    if (answer.status === 401) {
      sessionLost(4401);
      return MSG.sessionEnded;
    }
    if (answer.status === 409 && first) {
      if (first.key === "status") {
        // The page was behind: show the status the server named, so the buttons match it again.
        if (state.current && code === state.current.code) {
          state.current = Object.assign({}, state.current, { status: first.message });
          renderCurrent();
        }
        return MSG.refusedStatus(code || "", MSG.statusWord[first.message] || first.message);
      }
      if (first.key === "room") return /occupied/i.test(first.message) ? MSG.roomOccupied : MSG.needRoom;
      if (first.key === "attendant") return MSG.holdingAnother;
      if (first.key === "attendant_id") return MSG.forwardedToOther;
    }
    if (answer.status === 404) return MSG.notFound;
    if (answer.status === 403) return MSG.forbidden;
    if (answer.status === 400 || answer.status === 422) return MSG.invalid;
    return MSG.failed;
  }

  const asCurrent = (step) => Object.assign({}, step, { step_id: step.id });

  async function act(run) {
    if (state.busy) return;
    state.busy = true;
    renderActions();
    try {
      await run();
    } finally {
      state.busy = false;
      renderActions();
    }
  }

  function stepAction(action, done) {
    return () =>
      act(async () => {
        const step = state.current;
        if (!step) return;
        const options = { method: "POST", json: {} };
        const forwardTo = $("forward-to").value;
        if (action === "finish" && forwardTo) options.json = { service_id: Number(forwardTo) };
        const answer = await S.clinicApi(`/attendances/${step.step_id}/${action}`, options);
        if (!answer.ok) {
          feedback(refusal(answer, step.code), false);
          return;
        }
        const result = answer.body.step || answer.body;
        state.current = Object.assign(asCurrent(result), { patient_name: result.patient_name || step.patient_name });
        renderCurrent();
        if (answer.body.next_step) {
          $("forward-to").value = "";
          feedback(MSG.forwarded(step.code, answer.body.next_step.service), true);
        } else feedback(done(step.code), true);
      });
  }

  const callNext = () =>
    act(async () => {
      const answer = await S.clinicApi("/desk/call-next", { method: "POST", json: {} });
      if (answer.status === 204) {
        feedback(MSG.queueIsEmpty, true);
        return;
      }
      if (!answer.ok) {
        feedback(refusal(answer), false);
        return;
      }
      const wasHeld = state.current && state.current.step_id === answer.body.id && HELD.has(state.current.status);
      state.current = asCurrent(answer.body);
      renderCurrent();
      feedback((wasHeld ? MSG.recalled : MSG.called)(answer.body.code), true);
    });

  const roomAction = (take) => () =>
    act(async () => {
      const room = take ? state.rooms.find((r) => String(r.id) === $("room-select").value) : myRoom();
      if (!room) return;
      const answer = await S.clinicApi(`/rooms/${room.id}/${take ? "take" : "leave"}`, { method: "POST" });
      if (!answer.ok) {
        feedback(answer.status === 409 ? MSG.roomOccupied : refusal(answer), false);
        return;
      }
      feedback((take ? MSG.roomTaken : MSG.roomLeft)(room.name), true);
    });

  // Start -----------------------------------------------------------------------------------------------------

  function showLogin() {
    state.me = null;
    $("login-panel").hidden = false;
    $("desk").hidden = true;
    $("logout").hidden = true;
    $("me-name").textContent = "";
  }

  async function enter(user) {
    if (!user) {
      showLogin();
      return;
    }
    state.me = user;
    const rooms = await S.clinicApi("/rooms?limit=1"); // staff only: anyone else gets a 404
    if (rooms.status === 404 || rooms.status === 403) {
      showBanner(MSG.notStaff);
      showLogin();
      return;
    }
    const services = await S.clinicApi("/services");
    state.services = services.ok ? services.body : [];
    renderServices();
    showBanner("");
    $("login-panel").hidden = true;
    $("desk").hidden = false;
    $("logout").hidden = false;
    $("me-name").textContent = user.name || user.email;
    state.lastSeq = null;
    state.current = null;
    renderCurrent();
    connect();
  }

  async function start() {
    S.applyMessages(MSG);
    setConnection("offline");
    renderCurrent();
    const name = await S.clinicName();
    $("clinic-name").textContent = name;
    document.title = `${name} – ${MSG.pageTitle}`;
    S.loginForm(MSG, enter);
    $("logout").addEventListener("click", async () => {
      const socket = state.socket;
      state.socket = null;
      if (socket) socket.close();
      await S.logout();
      setConnection("offline");
      showLogin();
    });
    $("call-next").addEventListener("click", callNext);
    $("recall").addEventListener("click", stepAction("recall", MSG.recalled));
    $("start").addEventListener("click", stepAction("start", MSG.started));
    $("finish").addEventListener("click", stepAction("finish", MSG.finished));
    $("no-show").addEventListener("click", stepAction("no-show", MSG.noShowDone));
    $("cancel").addEventListener("click", stepAction("cancel", MSG.cancelledDone));
    $("reactivate").addEventListener("click", stepAction("reactivate", MSG.reactivated));
    $("take-room").addEventListener("click", roomAction(true));
    $("leave-room").addEventListener("click", roomAction(false));
    $("forward-to").addEventListener("change", renderActions);
    setInterval(renderQueue, 15000);
    await enter(await S.me());
  }

  start();
})();
