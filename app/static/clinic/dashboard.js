// The manager's dashboard: GET /stats for a date range (default: today in the clinic's zone, as the API decides),
// drawn as charts (Chart.js, vendored), the same figures as tables and as CSV files (durations in whole seconds),
// and a live strip (waiting now, longest wait now) refreshed every 30 seconds. Only a clinic admin gets figures:
// anyone else sees the login form or a refusal.
"use strict";

(function () {
  const S = window.ClinicStaff;
  const $ = S.$;

  const MSG = Object.assign({}, S.MESSAGES, {
    pageTitle: "Painel do gestor",
    subtitle: "Painel do gestor",
    loginTitle: "Entre como administrador da clínica",
    notAdmin: "Este painel é só para administradores da clínica. Entre com outra conta.",
    notStaff: "Esta conta não faz parte desta clínica. Entre com outra conta.",
    sessionEnded: "Sua sessão terminou. Entre novamente.",
    badRange: "Confira as datas: o fim não pode ser antes do início, e o período vai até 366 dias.",
    from: "De",
    to: "Até",
    show: "Mostrar",
    csvService: "CSV por serviço",
    csvDay: "CSV por dia",
    csvAttendant: "CSV por atendente",
    liveTitle: "Agora",
    waitingNow: "Aguardando agora",
    longestNow: "Maior espera agora",
    ticketsInRange: "Senhas no período",
    completedInRange: "Senhas concluídas",
    chartPerDay: "Senhas por dia",
    chartPerDayLabel: "Gráfico de barras: senhas emitidas por dia. Os números estão na tabela Por dia.",
    chartPerService: "Senhas por serviço",
    chartPerServiceLabel: "Gráfico de barras: senhas e passos por serviço. Os números estão na tabela Por serviço.",
    chartAvg: "Tempos médios por serviço",
    chartAvgLabel: "Gráfico de barras: médias de espera, deslocamento, atendimento e total por serviço. Os números estão na tabela Por serviço.",
    chartP90: "Tempos p90 por serviço: 9 em cada 10 pacientes levaram até",
    chartP90Label: "Gráfico de barras: percentil 90 de espera, deslocamento, atendimento e total por serviço. Os números estão na tabela Por serviço.",
    unitMinutes: "minutos",
    unitSeconds: "segundos",
    chartCalls: "Chamadas por atendente (chamadas e rechamadas)",
    chartCallsLabel: "Gráfico de barras: chamadas feitas por atendente. Os números estão na tabela Por atendente.",
    tickets: "Senhas",
    steps: "Passos (com encaminhamentos)",
    wait: "Espera",
    walk: "Deslocamento",
    service: "Atendimento",
    total: "Total",
    calls: "Chamadas",
    tableService: "Por serviço",
    tableDay: "Por dia",
    tableAttendant: "Por atendente",
    secondsNote:
      "Tempos em segundos. Espera: da chegada ao passo até a chamada; deslocamento: da chamada ao início; atendimento: do início ao fim; total: da emissão da senha ao fim do último passo, contado no primeiro serviço da senha.",
    noData: "Nenhum dado no período.",
    columns: {
      service: "Serviço",
      tickets: "Senhas",
      steps: "Passos",
      served: "Atendidos",
      avg_wait_seconds: "Espera média",
      p90_wait_seconds: "Espera p90",
      avg_walk_seconds: "Desloc. médio",
      p90_walk_seconds: "Desloc. p90",
      avg_service_seconds: "Atend. médio",
      p90_service_seconds: "Atend. p90",
      completed_tickets: "Concluídas",
      avg_total_seconds: "Total médio",
      p90_total_seconds: "Total p90",
      day: "Dia",
      name: "Atendente",
      calls: "Chamadas",
      recalls: "Rechamadas",
    },
  });
  const COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"];
  // One list of columns per table: the table, the CSV (headed by the API's field names) and the tests read it.
  const TABLES = {
    service: {
      rows: (stats) => stats.per_service,
      key: "service_id",
      columns: [
        "service", "tickets", "steps", "served", "avg_wait_seconds", "p90_wait_seconds", "avg_walk_seconds",
        "p90_walk_seconds", "avg_service_seconds", "p90_service_seconds", "completed_tickets", "avg_total_seconds",
        "p90_total_seconds",
      ],
    },
    day: { rows: (stats) => stats.per_day, key: "day", columns: ["day", "tickets"] },
    attendant: {
      rows: (stats) => stats.per_attendant,
      key: "attendant_id",
      columns: ["name", "calls", "recalls", "steps", "served", "avg_service_seconds"],
    },
  };

  const state = { stats: null, charts: {}, timer: null };
  window.clinicDashboard = state; // for operators' consoles (and tests)

  const isSeconds = (field) => field.endsWith("_seconds");
  const cell = (field, value) => {
    if (value === null || value === undefined) return "";
    return isSeconds(field) ? String(Math.round(value)) : String(value);
  };
  const dayLabel = (iso) => iso.split("-").reverse().slice(0, 2).join("/");

  // Tables and CSV --------------------------------------------------------------------------------------------

  function renderTable(name) {
    const spec = TABLES[name];
    const rows = spec.rows(state.stats);
    const head = document.createElement("tr");
    for (const field of spec.columns) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = MSG.columns[field] + (isSeconds(field) ? " (s)" : "");
      head.append(th);
    }
    const body = rows.map((row) => {
      const tr = document.createElement("tr");
      tr.dataset.key = row[spec.key];
      for (const field of spec.columns) {
        const td = document.createElement(field === spec.columns[0] ? "th" : "td");
        if (td.tagName === "TH") td.scope = "row";
        td.dataset.field = field;
        td.textContent = field === "day" ? row.day : cell(field, row[field]);
        tr.append(td);
      }
      return tr;
    });
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = spec.columns.length;
      td.textContent = MSG.noData;
      tr.append(td);
      body.push(tr);
    }
    const thead = document.createElement("thead");
    thead.append(head);
    const tbody = document.createElement("tbody");
    tbody.append(...body);
    $(`table-${name}`).replaceChildren(thead, tbody);
  }

  function csvText(name) {
    const spec = TABLES[name];
    const quote = (text) => (/[;"\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);
    const lines = [spec.columns.join(";")];
    for (const row of spec.rows(state.stats)) {
      lines.push(spec.columns.map((field) => quote(cell(field, row[field]))).join(";"));
    }
    return lines.join("\r\n") + "\r\n";
  }

  function download(name) {
    if (!state.stats) return;
    // A BOM so that spreadsheet programs read the accents as UTF-8; semicolons, as they expect in Portuguese.
    const blob = new Blob(["\ufeff" + csvText(name)], { type: "text/csv;charset=utf-8" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `clinica-${S.clinicId}-${name}-${state.stats.from}-a-${state.stats.to}.csv`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }

  // Charts ----------------------------------------------------------------------------------------------------

  function chart(id, type, labels, datasets, extra) {
    if (state.charts[id]) state.charts[id].destroy();
    const options = Object.assign(
      {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { display: datasets.length > 1, position: "bottom" } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      },
      extra || {},
    );
    const coloured = datasets.map((set, i) => Object.assign({ backgroundColor: COLORS[i % COLORS.length] }, set));
    state.charts[id] = new window.Chart($(id), { type, data: { labels, datasets: coloured }, options });
  }

  function renderCharts() {
    const stats = state.stats;
    chart("chart-day", "bar", stats.per_day.map((d) => dayLabel(d.day)), [
      { label: MSG.tickets, data: stats.per_day.map((d) => d.tickets) },
    ]);
    const services = stats.per_service.map((s) => s.service);
    chart("chart-service", "bar", services, [
      { label: MSG.tickets, data: stats.per_service.map((s) => s.tickets) },
      { label: MSG.steps, data: stats.per_service.map((s) => s.steps) },
    ]);
    const times = ["wait", "walk", "service", "total"];
    // Minutes, unless every figure is under two minutes (a quiet day): then seconds.
    const longest = Math.max(0, ...stats.per_service.flatMap((s) => times.map((w) => s[`p90_${w}_seconds`] || 0)));
    const divisor = longest < 120 ? 1 : 60;
    const unit = divisor === 1 ? MSG.unitSeconds : MSG.unitMinutes;
    for (const [id, kind] of [["chart-avg", "avg"], ["chart-p90", "p90"]]) {
      const data = (what) =>
        stats.per_service.map((s) => {
          const value = s[`${kind}_${what}_seconds`];
          return value === null ? null : Math.round((value / divisor) * 10) / 10;
        });
      const axis = { beginAtZero: true, title: { display: true, text: unit } };
      chart(id, "bar", services, times.map((what) => ({ label: MSG[what], data: data(what) })), { scales: { y: axis } });
    }
    chart(
      "chart-calls",
      "bar",
      stats.per_attendant.map((a) => a.name || a.attendant_id.slice(0, 8)),
      [{ label: MSG.calls, data: stats.per_attendant.map((a) => a.calls) }],
      { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
    );
  }

  // Loading ---------------------------------------------------------------------------------------------------

  function renderLive(live) {
    $("live-waiting").textContent = live ? String(live.waiting) : "—";
    $("live-longest").textContent = live && live.longest_wait_seconds !== null ? S.duration(live.longest_wait_seconds) : "—";
  }

  // Who may not see the figures gets the login form (nobody logged in) or a refusal, never the data.
  function refuse(answer) {
    $("dashboard").hidden = true;
    state.stats = null;
    if (answer.status === 401) {
      $("banner").hidden = true;
      showLogin();
      return;
    }
    $("banner").textContent = answer.status === 403 ? MSG.notAdmin : answer.status === 404 ? MSG.notStaff : MSG.unreachable;
    $("banner").hidden = false;
    $("login-panel").hidden = answer.status === 0;
  }

  async function load(from, to) {
    const query = new URLSearchParams();
    if (from) query.set("from", from);
    if (to) query.set("to", to);
    const answer = await S.clinicApi(`/stats${query.toString() ? "?" + query : ""}`);
    if (answer.status === 400) {
      $("range-error").textContent = MSG.badRange;
      return;
    }
    if (!answer.ok) {
      refuse(answer);
      return;
    }
    $("range-error").textContent = "";
    $("banner").hidden = true;
    $("login-panel").hidden = true;
    $("dashboard").hidden = false;
    const stats = answer.body;
    state.stats = stats;
    $("date-from").value = stats.from;
    $("date-to").value = stats.to;
    renderLive(stats.live);
    $("range-tickets").textContent = String(stats.per_day.reduce((sum, d) => sum + d.tickets, 0));
    $("range-completed").textContent = String(stats.times ? stats.times.completed_tickets : 0);
    for (const name of Object.keys(TABLES)) renderTable(name);
    renderCharts();
    document.body.dataset.loaded = `${stats.from}..${stats.to}`;
  }

  async function refreshLive() {
    if (!state.stats) return;
    const answer = await S.clinicApi("/stats");
    if (answer.ok) renderLive(answer.body.live);
    else if (answer.status === 401 || answer.status === 403 || answer.status === 404) refuse(answer);
  }

  function showLogin() {
    $("login-panel").hidden = false;
    $("logout").hidden = true;
    $("me-name").textContent = "";
  }

  async function enter(user) {
    if (!user) {
      showLogin();
      return;
    }
    $("me-name").textContent = user.name || user.email;
    $("logout").hidden = false;
    await load($("date-from").value, $("date-to").value);
  }

  async function start() {
    S.applyMessages(MSG);
    const name = await S.clinicName();
    $("clinic-name").textContent = name;
    document.title = `${name} – ${MSG.pageTitle}`;
    if (window.Chart) window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    S.loginForm(MSG, enter);
    $("range").addEventListener("submit", (event) => {
      event.preventDefault();
      load($("date-from").value, $("date-to").value);
    });
    for (const name of Object.keys(TABLES)) $(`csv-${name}`).addEventListener("click", () => download(name));
    $("logout").addEventListener("click", async () => {
      await S.logout();
      refuse({ status: 401 });
    });
    state.timer = setInterval(refreshLive, 30000);
    await enter(await S.me());
  }

  start();
})();
