// The live auction page: product, price and countdown, live updates from the auction's WebSocket (the message
// kinds of app/auctions/wire.py; reconnects with ?since=<last seq> so nothing is missed), a login form, and a bid
// form.
"use strict";

(function () {
  const productId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
  const $ = (id) => document.getElementById(id);
  const state = {
    lastSeq: null,
    endsAt: null,
    status: "open",
    minimum: null,
    me: null,
    finished: false,
    socket: null,
    retryDelay: 1000,
    retryTimer: null,
    seenBids: new Set(),
  };

  const money = (value) => (value === null || value === undefined ? "—" : "R$ " + Number(value).toFixed(2));
  const who = (userId) => {
    if (!userId) return "";
    if (state.me && state.me.id === userId) return "you";
    return "bidder " + String(userId).slice(0, 8);
  };

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

  function setConnection(text, live) {
    const el = $("connection");
    el.textContent = text;
    el.className = "pill " + (live ? "pill-live" : "pill-wait");
    el.dataset.state = live ? "live" : "connecting";
  }

  function setStatus(status) {
    state.status = status;
    const el = $("status");
    el.textContent = status;
    el.className = "pill pill-" + status;
    $("bid-button").disabled = status !== "open";
  }

  function setPrice(price, leaderId) {
    $("current-price").textContent = money(price);
    $("leader").textContent = leaderId ? "leading: " + who(leaderId) : "no bids yet";
  }

  function setMinimum(minimum) {
    if (minimum === null || minimum === undefined) return;
    state.minimum = Number(minimum);
    $("minimum").textContent = money(minimum);
    // A hint only: the server judges every bid and says the minimum when one is too low.
    $("bid-amount").placeholder = state.minimum.toFixed(2);
  }

  function setEnd(endsAt) {
    if (!endsAt) return;
    state.endsAt = new Date(endsAt);
    $("ends-at").textContent = "ends " + state.endsAt.toLocaleString();
    tick();
  }

  function notice(text) {
    const el = $("notice");
    el.textContent = text;
    el.hidden = !text;
  }

  function bidResult(text, ok) {
    const el = $("bid-result");
    el.textContent = text;
    el.className = "result " + (ok ? "ok" : "bad");
  }

  function addBid(bid, fresh) {
    const key = String(bid.id);
    if (bid.id !== undefined && state.seenBids.has(key)) return;
    if (bid.id !== undefined) state.seenBids.add(key);
    const item = document.createElement("li");
    item.dataset.bidId = key;
    const value = document.createElement("span");
    value.className = "amount";
    value.textContent = money(bid.amount);
    const by = document.createElement("span");
    by.className = "who";
    const when = bid.created_at ? new Date(bid.created_at).toLocaleTimeString() : new Date().toLocaleTimeString();
    by.textContent = who(bid.bidder_id) + " · " + when;
    item.append(value, by);
    const list = $("bids");
    if (fresh) {
      item.classList.add("fresh");
      list.prepend(item);
    } else {
      list.append(item);
    }
    $("bid-count").textContent = "(" + list.children.length + ")";
  }

  function tick() {
    const el = $("countdown");
    if (!state.endsAt) return;
    if (state.status !== "open") {
      el.textContent = state.status;
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

  function finish(message) {
    state.finished = true;
    setStatus(message.status);
    if (message.status === "closed") {
      notice(message.winner_id ? "Sold to " + who(message.winner_id) + " for " + money(message.amount)
        : "The auction finished without bids.");
    } else {
      notice("The seller cancelled this auction.");
    }
    tick();
  }

  async function loadBids() {
    const answer = await api("/api/v1/products/" + productId + "/bids?limit=50");
    if (!answer.ok) return;
    $("bids").replaceChildren();
    state.seenBids.clear();
    for (const bid of answer.body.items) addBid(bid, false);
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
        setPrice(message.current_price, message.current_bidder_id);
        setMinimum(message.minimum_bid);
        setEnd(message.ends_at);
        if (message.reset) loadBids();
        break;
      case 1:
      case 4:
        setPrice(message.amount, message.user_id);
        setMinimum(message.minimum_bid);
        setEnd(message.ends_at);
        addBid({ id: message.bid_id, amount: message.amount, bidder_id: message.user_id }, true);
        if (message.kind === 1) bidResult("Your bid of " + money(message.amount) + " was accepted.", true);
        break;
      case 8:  // bids of a deactivated account withdrawn: a new leader (or none), and a shorter history
        setPrice(message.current_price, message.current_bidder_id);
        setMinimum(message.minimum_bid);
        loadBids();
        notice(message.message || "Some bids were withdrawn.");
        break;
      case 7:
        setEnd(message.ends_at);
        notice(message.message || "The end was extended.");
        break;
      case 5:
        finish(message);
        break;
      case 2:
      case 3:
        bidResult(message.message || "Refused.", false);
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
    setConnection("connecting…", false);
    socket.addEventListener("open", () => {
      state.retryDelay = 1000;
      setConnection("live", true);
    });
    socket.addEventListener("message", (event) => {
      try { onMessage(JSON.parse(event.data)); } catch (error) { console.error(error); }
    });
    socket.addEventListener("close", () => {
      if (state.socket !== socket) return;  // replaced on purpose
      state.socket = null;
      if (state.finished) {
        setConnection("finished", false);
        return;
      }
      setConnection("reconnecting…", false);
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
    const answer = await api("/api/v1/users/me");
    state.me = answer.ok ? answer.body : null;
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
      $("login-error").textContent = (answer.body && answer.body.detail) || "Login failed";
      return;
    }
    $("login-password").value = "";
    await loadMe();
    reconnect();
  }

  async function logout() {
    const token = await csrfToken();
    await api("/api/v1/users/logout", { method: "POST", headers: { "X-CSRF-Token": token } });
    await loadMe();
    reconnect();
  }

  async function bid(event) {
    event.preventDefault();
    const value = Number($("bid-amount").value);
    if (!Number.isFinite(value) || value <= 0) {
      bidResult("Enter an amount.", false);
      return;
    }
    bidResult("Sending…", true);
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
    if (answer.ok) bidResult("Your bid of " + money(answer.body.amount) + " was accepted.", true);
    else bidResult((answer.body && answer.body.detail) || "Refused.", false);
  }

  async function start() {
    const answer = await api("/api/v1/products/" + productId);
    if (!answer.ok) {
      $("product-name").textContent = "Auction not found";
      setConnection("offline", false);
      return;
    }
    const product = answer.body;
    document.title = product.product_name + " · Live auction";
    $("product-name").textContent = product.product_name;
    $("description").textContent = product.description;
    $("seller").textContent = "base price " + money(product.baseprice) + " · increment " + money(product.min_increment);
    setStatus(product.status);
    setPrice(product.current_price, product.current_bidder_id);
    setMinimum(product.minimum_bid);
    setEnd(product.ends_at);
    state.lastSeq = product.last_seq;  // the socket replays whatever happened after this
    await loadMe();
    await loadBids();
    if (product.status !== "open") {
      finish({ status: product.status, winner_id: product.winner_id, amount: product.winning_bid });
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
