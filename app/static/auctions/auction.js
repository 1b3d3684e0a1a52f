// The live auction page: product, price and countdown, live updates from the auction's WebSocket (the message
// kinds of app/auctions/wire.py; reconnects with ?since=<last seq> so nothing is missed), a login and a bid form.
// Bidders appear by their number in this auction ("Licitante 3"), the reader as "Você".
"use strict";

(function () {
  // Every word the page shows, in one place (to translate, change only this).
  const TEXT = {
    brand: "Leilão ao vivo",
    titleOf: (product) => `${product} · Leilão ao vivo`,
    notFound: "Leilão não encontrado",
    currentPrice: "Preço atual",
    finalPrice: "Preço final",
    endsIn: "Termina em",
    ended: "Encerrado",
    endsAt: (when) => `termina em ${when}`,
    endedAt: (when) => `encerrado em ${when}`,
    basePrice: (base, increment) => `lance inicial ${base} · incremento ${increment}`,
    status: { open: "Aberto", closed: "Encerrado", cancelled: "Cancelado" },
    connection: { connecting: "conectando…", live: "ao vivo", reconnecting: "reconectando…", finished: "encerrado",
      offline: "fora do ar" },
    you: "Você",
    bidder: (n) => `Licitante ${n}`,
    noBids: "nenhum lance ainda",
    leading: (who) => `na liderança: ${who}`,
    winner: (who) => `vencedor: ${who}`,
    loginTitle: "Entre para dar lances",
    email: "E-mail",
    password: "Senha",
    login: "Entrar",
    loginFailed: "E-mail ou senha incorretos.",
    loginThrottled: "Muitas tentativas. Aguarde um pouco e tente de novo.",
    loginError: "Não foi possível entrar agora. Tente novamente.",
    bidTitle: "Dar um lance",
    loggedInAs: "Conectado como",
    logout: "Sair",
    minimum: (value) => `Valor (mínimo ${value})`,
    bid: "Dar lance",
    bids: "Lances",
    count: (n) => `(${n})`,
    enterAmount: "Informe um valor, por exemplo 1.234,56.",
    sending: "Enviando…",
    accepted: (value) => `Seu lance de ${value} foi aceito.`,
    tooLow: (value) => `Lance abaixo do mínimo: o mínimo é ${value}.`,
    ownAuction: "Você não pode dar lances no seu próprio leilão.",
    loginRequired: "Entre para dar lances.",
    sessionEnded: "Sua sessão terminou. Entre novamente para dar lances.",
    closedRefusal: "O leilão já terminou.",
    refused: "Lance recusado. Tente novamente.",
    outbid: (value, who) => `Você foi superado: ${who} deu um lance de ${value}.`,
    extended: (when) => `Um lance no fim prorrogou o leilão até ${when}.`,
    withdrawn: "Lances de uma conta encerrada foram retirados.",
    won: (value) => `Você venceu! Arrematado por ${value}.`,
    lost: (value, who) => `O leilão terminou e você não venceu: ${who} arrematou por ${value}.`,
    sold: (value, who) => `Leilão encerrado: ${who} arrematou por ${value}.`,
    noWinner: "Leilão encerrado sem lances.",
    cancelled: "O vendedor cancelou este leilão.",
  };

  const productId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
  const $ = (id) => document.getElementById(id);
  const BRL = new Intl.NumberFormat("pt-BR", { style: "currency", currency: "BRL" });
  const state = {
    lastSeq: null, endsAt: null, status: "open", minimum: null, me: null, finished: false, socket: null,
    retryDelay: 1000, retryTimer: null, seenBids: new Set(), leaderIsMe: false, iBid: false,
  };

  const money = (value) => (value === null || value === undefined ? "—" : BRL.format(Number(value)));
  const dateTime = (value) => new Date(value).toLocaleString("pt-BR", { dateStyle: "short", timeStyle: "medium" });
  const isMe = (userId) => !!(state.me && userId && state.me.id === userId);
  const who = (number, userId) => (isMe(userId) ? TEXT.you : number ? TEXT.bidder(number) : "");

  // "1.234,56", "1234,56", "1234.56" and "R$ 1.234,56" all mean 1234.56.
  function parseAmount(text) {
    let value = text.replace(/R\$|\s/g, "");
    if (value.includes(",")) value = value.replace(/\./g, "").replace(",", ".");
    return /^\d+(\.\d{1,2})?$/.test(value) ? Number(value) : NaN;
  }

  async function api(path, options = {}) {
    const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options));
    let body = null;
    if (response.status !== 204) {
      try { body = await response.json(); } catch (_) { body = null; }
    }
    return { ok: response.ok, status: response.status, body };
  }

  async function csrfToken() {
    const answer = await api("/api/v1/csrftoken");
    return answer.body && answer.body.csrf_token;
  }

  function setConnection(key) {
    const el = $("connection");
    el.textContent = TEXT.connection[key];
    el.className = "pill " + (key === "live" ? "pill-live" : key === "finished" ? "pill-done" : "pill-wait");
    el.dataset.state = key;
  }

  function setStatus(status) {
    state.status = status;
    const el = $("status");
    el.textContent = TEXT.status[status] || status;
    el.className = "pill pill-" + status;
    $("bid-button").disabled = status !== "open";
  }

  function setPrice(price, bidder, userId) {
    $("current-price").textContent = money(price);
    state.leaderIsMe = isMe(userId);
    const leader = who(bidder, userId);
    $("leader").textContent = leader ? TEXT.leading(leader) : TEXT.noBids;
  }

  function setMinimum(minimum) {
    if (minimum === null || minimum === undefined) return;
    state.minimum = Number(minimum);
    $("minimum-label").textContent = TEXT.minimum(money(minimum));
    // A hint only: the server judges every bid and says the minimum when one is too low.
    $("bid-amount").placeholder = BRL.format(state.minimum).replace(/^R\$\s/, "");
  }

  function setEnd(endsAt) {
    if (!endsAt) return;
    state.endsAt = new Date(endsAt);
    $("ends-at").textContent = TEXT.endsAt(dateTime(endsAt));
    tick();
  }

  function notice(text, kind) {
    const el = $("notice");
    el.textContent = text || "";
    el.hidden = !text;
    el.className = "notice notice-" + (kind || "info");
  }

  function outbid(text) {
    $("outbid").textContent = text || "";
    $("outbid").hidden = !text;
  }

  function bidResult(text, ok) {
    const el = $("bid-result");
    el.textContent = text;
    el.className = "result " + (ok ? "ok" : "bad");
  }

  // A refusal in the reader's words, from the server's (kinds 2 and 3, or an HTTP error's detail).
  function refusal(message) {
    const text = message || "";
    const minimum = text.match(/minimum is ([\d.]+)/);
    if (minimum) return TEXT.tooLow(money(minimum[1]));
    if (/own auction/i.test(text)) return TEXT.ownAuction;
    if (/login required/i.test(text)) return TEXT.loginRequired;
    if (/session/i.test(text)) return TEXT.sessionEnded;
    if (/closed|ended|cancel|finished/i.test(text)) return TEXT.closedRefusal;
    return TEXT.refused;
  }

  function addBid(bid, fresh) {
    const key = String(bid.id);
    if (bid.id !== undefined && state.seenBids.has(key)) return;
    if (bid.id !== undefined) state.seenBids.add(key);
    if (isMe(bid.bidder_id)) state.iBid = true;
    const item = document.createElement("li");
    item.dataset.bidId = key;
    const value = document.createElement("span");
    value.className = "amount";
    value.textContent = money(bid.amount);
    const by = document.createElement("span");
    by.className = "who";
    const when = bid.created_at ? new Date(bid.created_at) : new Date();
    by.textContent = who(bid.bidder, bid.bidder_id) + " · " + when.toLocaleTimeString("pt-BR");
    item.append(value, by);
    const list = $("bids");
    if (fresh) {
      item.classList.add("fresh");
      list.prepend(item);
    } else {
      list.append(item);
    }
    $("bid-count").textContent = TEXT.count(list.children.length);
  }

  function tick() {
    const el = $("countdown");
    if (!state.endsAt) return;
    if (state.status !== "open") {
      el.textContent = TEXT.status[state.status] || state.status;
      el.classList.remove("soon");
      return;
    }
    let left = Math.max(0, Math.floor((state.endsAt.getTime() - Date.now()) / 1000));
    const days = Math.floor(left / 86400);
    left %= 86400;
    const pad = (n) => String(n).padStart(2, "0");
    const clock = pad(Math.floor(left / 3600)) + ":" + pad(Math.floor((left % 3600) / 60)) + ":" + pad(left % 60);
    el.textContent = (days ? days + "d " : "") + clock;
    el.classList.toggle("soon", days === 0 && left < 60);
  }

  // The end: the bid form goes, the old messages with it, and each reader is told where they stand.
  function finish(message) {
    state.finished = true;
    setStatus(message.status);
    $("bid-form").hidden = true;
    $("bid-title").hidden = true;
    bidResult("", true);
    $("bid-result").hidden = true;
    outbid("");
    $("countdown-label").textContent = TEXT.ended;
    if (state.endsAt) $("ends-at").textContent = TEXT.endedAt(dateTime(state.endsAt));
    if (message.status === "cancelled") {
      notice(TEXT.cancelled, "info");
    } else if (!message.winner && !message.winner_id) {  // others read the winner's number, its id null
      notice(TEXT.noWinner, "info");
      $("leader").textContent = "";
    } else {
      const value = money(message.amount);
      const winner = who(message.winner, message.winner_id);
      $("price-label").textContent = TEXT.finalPrice;
      $("current-price").textContent = value;
      $("leader").textContent = TEXT.winner(winner);
      if (isMe(message.winner_id)) notice(TEXT.won(value), "won");
      else if (state.iBid) notice(TEXT.lost(value, winner), "lost");
      else notice(TEXT.sold(value, winner), "info");
    }
    document.body.dataset.finished = message.status;
    tick();
  }

  async function loadBids() {
    const answer = await api("/api/v1/products/" + productId + "/bids?limit=50");
    if (!answer.ok) return;
    $("bids").replaceChildren();
    state.seenBids.clear();
    for (const bid of answer.body.items) addBid(bid, false);
  }

  function onNewBid(message) {
    const wasLeading = state.leaderIsMe;
    setPrice(message.amount, message.bidder, message.user_id);
    setMinimum(message.minimum_bid);
    setEnd(message.ends_at);
    addBid({ id: message.bid_id, amount: message.amount, bidder: message.bidder, bidder_id: message.user_id }, true);
    if (message.kind === 1) {
      bidResult(TEXT.accepted(money(message.amount)), true);
      outbid("");
    } else if (wasLeading && !isMe(message.user_id)) {
      outbid(TEXT.outbid(money(message.amount), who(message.bidder, message.user_id)));
    }
  }

  function onMessage(message) {
    if (typeof message.seq === "number" && message.kind !== 6) {
      if (state.lastSeq !== null && message.seq <= state.lastSeq) return;  // already shown
      state.lastSeq = message.seq;
    }
    switch (message.kind) {
      case 6:
        state.lastSeq = message.seq;
        setStatus(message.status);
        setPrice(message.current_price, message.current_bidder, message.current_bidder_id);
        setMinimum(message.minimum_bid);
        setEnd(message.ends_at);
        if (message.reset) loadBids();
        break;
      case 1:
      case 4:
        onNewBid(message);
        break;
      case 8:  // bids of a deactivated account withdrawn: a new leader (or none), and a shorter history
        setPrice(message.current_price, message.current_bidder, message.current_bidder_id);
        setMinimum(message.minimum_bid);
        loadBids();
        notice(TEXT.withdrawn, "info");
        break;
      case 7:
        setEnd(message.ends_at);
        notice(TEXT.extended(dateTime(message.ends_at)), "info");
        break;
      case 5:
        finish(message);
        break;
      case 2:
      case 3:
        bidResult(refusal(message.message), false);
        break;
      default:
        break;
    }
  }

  function connect() {
    clearTimeout(state.retryTimer);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let url = scheme + "//" + location.host + "/api/v1/products/ws/subscribe/" + encodeURIComponent(productId);
    if (state.lastSeq !== null) url += "?since=" + state.lastSeq;
    const socket = new WebSocket(url);
    state.socket = socket;
    setConnection("connecting");
    socket.addEventListener("open", () => {
      state.retryDelay = 1000;
      setConnection("live");
    });
    socket.addEventListener("message", (event) => {
      try { onMessage(JSON.parse(event.data)); } catch (error) { console.error(error); }
    });
    socket.addEventListener("close", () => {
      if (state.socket !== socket) return;  // replaced on purpose
      state.socket = null;
      if (state.finished) {
        setConnection("finished");
        return;
      }
      setConnection("reconnecting");
      state.retryTimer = setTimeout(connect, state.retryDelay);
      state.retryDelay = Math.min(state.retryDelay * 2, 10000);
    });
  }

  function reconnect() {
    // A new socket carries the new session cookie; ?since= keeps the stream gap-free.
    const old = state.socket;
    state.socket = null;
    if (old) old.close();
    if (!state.finished) connect();
  }

  async function loadMe() {
    // Who is reading, without an error in the console for an anonymous visitor.
    const answer = await api("/api/v1/auth/session");
    state.me = answer.ok && answer.body ? answer.body.user : null;
    $("login-panel").hidden = !!state.me;
    $("bid-panel").hidden = !state.me;
    if (state.me) $("me-name").textContent = state.me.name || state.me.email;
  }

  async function login(event) {
    event.preventDefault();
    $("login-error").textContent = "";
    const token = await csrfToken();
    const answer = await api("/api/v1/users/loginuser", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
      body: JSON.stringify({ email: $("login-email").value, password: $("login-password").value }),
    });
    if (!answer.ok) {
      $("login-error").textContent = answer.status === 429 ? TEXT.loginThrottled
        : answer.status === 401 || answer.status === 400 ? TEXT.loginFailed : TEXT.loginError;
      return;
    }
    $("login-password").value = "";
    await loadMe();
    await loadBids();  // the reader's own bids become "Você"
    reconnect();
  }

  async function logout() {
    const token = await csrfToken();
    await api("/api/v1/users/logout", { method: "POST", headers: { "X-CSRF-Token": token } });
    await loadMe();
    await loadBids();
    reconnect();
  }

  async function bid(event) {
    event.preventDefault();
    const value = parseAmount($("bid-amount").value);
    if (!Number.isFinite(value) || value <= 0) {
      bidResult(TEXT.enterAmount, false);
      return;
    }
    bidResult(TEXT.sending, true);
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify({ kind: 0, amount: value }));
      return;
    }
    const token = await csrfToken();
    const answer = await api("/api/v1/products/" + productId + "/bids", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
      body: JSON.stringify({ amount: value }),
    });
    if (answer.ok) bidResult(TEXT.accepted(money(answer.body.amount)), true);
    else bidResult(refusal(answer.body && answer.body.detail), false);
  }

  async function start() {
    for (const element of document.querySelectorAll("[data-text]")) element.textContent = TEXT[element.dataset.text];
    document.title = TEXT.brand;
    setConnection("connecting");
    const answer = await api("/api/v1/products/" + productId);
    if (!answer.ok) {
      $("product-name").textContent = TEXT.notFound;
      setConnection("offline");
      return;
    }
    const product = answer.body;
    document.title = TEXT.titleOf(product.product_name);
    $("product-name").textContent = product.product_name;
    $("description").textContent = product.description;
    $("seller").textContent = TEXT.basePrice(money(product.baseprice), money(product.min_increment));
    await loadMe();
    setStatus(product.status);
    setPrice(product.current_price, product.current_bidder, product.current_bidder_id);
    setMinimum(product.minimum_bid);
    setEnd(product.ends_at);
    state.lastSeq = product.last_seq;  // the socket replays whatever happened after this
    await loadBids();
    if (product.status !== "open") {
      finish({ status: product.status, winner: product.winner, winner_id: product.winner_id,
        amount: product.winning_bid });
      setConnection("finished");
      return;
    }
    connect();
  }

  $("login-form").addEventListener("submit", login);
  $("bid-form").addEventListener("submit", bid);
  $("logout").addEventListener("click", logout);
  setInterval(tick, 250);
  start();
})();
