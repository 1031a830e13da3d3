// Freeside web chat page: sign in with an EIP-1193 wallet (EIP-4361), then chat over the socket (docs/webchat.md).
(() => {
  "use strict";
  const body = document.body;
  const slug = body.dataset.slug;
  const tokenId = body.dataset.tokenId;
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  if (params.get("theme") === "light" || params.get("theme") === "dark") document.documentElement.dataset.theme = params.get("theme");

  let sessionToken = null; // in memory only; a framed page cannot rely on the SameSite=Strict cookie
  let state = null;
  let socket = null;
  let socketReady = null;
  let conversationId = null;
  let streaming = null;
  let nextBefore = null;
  let chainId = 1;

  // EIP-55 (Keccak-256) comes from Freeside's own /assets/identity/siwe.js, loaded before this script.
  const checksum = (address) => window.FreesideSiwe.checksumAddress(address);
  window.freesideChecksum = checksum;

  // --- errors as sentences ---
  const SENTENCES = {
    "insufficient-credits": "Your community is out of credits. Top up to keep chatting.",
    "daily-cap-reached": "You have used today's chat budget for this community. It starts again at midnight UTC.",
    "rate-limited": "You are sending messages faster than allowed. Wait a moment, then try again.",
    "agents-disabled": "Chat is switched off on this service right now.",
    "finn-unavailable": "The agent is unavailable right now. Try again in a minute.",
    "finn-timeout": "The agent took too long to answer. Try again.",
    "draining": "The service is restarting. Your next message will reconnect.",
    "forbidden": "Only the wallet that holds this NFT can talk to its agent.",
    "not-found": "This agent or conversation does not exist.",
    "unauthenticated": "Your session has ended. Sign in again.",
    "STREAM_INTERRUPTED": "The answer was cut off. You pay only for the part that arrived.",
  };
  const BY_STATUS = {
    401: "Your session has ended. Sign in again.",
    402: "Your community is out of credits. Top up to keep chatting.",
    403: "Only the wallet that holds this NFT can do this.",
    404: "This agent does not exist.",
    429: "You are going too fast. Wait a moment, then try again.",
    503: "The service is busy or unavailable right now. Try again in a minute.",
    504: "The agent took too long to answer. Try again.",
  };
  function sentence(code, fallback) {
    return SENTENCES[code] || (fallback && /[a-z]/.test(fallback) ? fallback : "Something went wrong. Try again.");
  }
  function showError(text) {
    const el = $("status");
    el.textContent = text;
    el.hidden = !text;
  }

  async function api(path, options = {}) {
    const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    if (sessionToken) headers.Authorization = "Bearer " + sessionToken;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(options.json);
    }
    const response = await fetch(path, { method: options.method || "GET", headers, body: options.body, credentials: "same-origin" });
    let data = null;
    try { data = await response.json(); } catch { /* empty body */ }
    if (!response.ok) {
      const type = data && typeof data.type === "string" ? data.type.split("/").pop() : "";
      const error = new Error(SENTENCES[type] || BY_STATUS[response.status] || "Something went wrong. Try again.");
      error.status = response.status;
      throw error;
    }
    return data;
  }

  const money = (micro) => "$" + (micro / 1e6).toFixed(micro < 10000 ? 4 : 2);
  function showBalance(micro) {
    if (typeof micro !== "number") return;
    $("balance").textContent = "Credits: " + money(micro);
    $("balance").hidden = false;
    $("topup-box").classList.toggle("low", micro < 500000);
  }

  // --- messages ---
  function bubble(role, text, source, prepend) {
    const li = document.createElement("li");
    li.className = "msg " + (role === "user" ? "user" : "agent");
    li.dataset.source = source || "web";
    const badge = document.createElement("span");
    badge.className = "badge " + (source || "web");
    badge.textContent = ({ web: "Web", discord: "Discord", telegram: "Telegram", api: "API" })[source] || source || "Web";
    const content = document.createElement("span");
    content.className = "text";
    content.textContent = text;
    li.append(badge, content);
    const log = $("log");
    if (prepend) log.prepend(li); else log.append(li);
    if (!prepend) li.scrollIntoView({ block: "end" });
    return li;
  }

  async function loadHistory(older) {
    const query = new URLSearchParams({ limit: "30" });
    if (older && nextBefore) query.set("before", nextBefore);
    const page = await api(`/api/v1/webchat/${slug}/${tokenId}/history?` + query);
    // Newest first on the wire; shown oldest at the top.
    for (const m of page.messages) bubble(m.role, m.content, m.source, true);
    nextBefore = page.next_before;
    $("older").hidden = !nextBefore;
  }

  // --- socket ---
  function connect() {
    if (socketReady) return socketReady;
    socketReady = new Promise((resolve, reject) => {
      const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + `/chat/${slug}/${tokenId}/ws`);
      socket = ws;
      ws.onopen = () => { if (sessionToken) ws.send(JSON.stringify({ type: "auth", token: sessionToken })); };
      ws.onmessage = (event) => {
        const m = JSON.parse(event.data);
        if (m.type === "welcome") resolve(ws);
        else onEvent(m);
      };
      ws.onclose = (event) => {
        console.info("chat socket closed", event.code, event.reason);
        socket = null;
        socketReady = null;
        if (streaming) { streaming.classList.remove("streaming"); streaming = null; setBusy(false); }
        reject(new Error("closed"));
        if (event.code === 4401) { showError(SENTENCES.unauthenticated); signedOut(); }
        else if (event.code === 4429) showError("You have too many chat tabs open with this wallet. Close one, then reload this page.");
        else if (event.code === 1008) showError("You sent too many messages too quickly. Reload to continue.");
        else if (event.code === 1001) setTimeout(() => connect().catch(() => {}), 1500);
      };
    });
    socketReady.catch(() => {});
    return socketReady;
  }
  setInterval(() => { if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "ping" })); }, 30000);

  function setBusy(busy) { $("send").disabled = busy; }

  function onEvent(m) {
    switch (m.type) {
      case "user": bubble("user", m.message, "web"); break;
      case "start":
        conversationId = m.conversation_id;
        streaming = bubble("assistant", "", "web");
        streaming.classList.add("streaming");
        streaming.setAttribute("aria-busy", "true");
        break;
      case "token":
        if (!streaming) { streaming = bubble("assistant", "", "web"); streaming.classList.add("streaming"); }
        streaming.querySelector(".text").textContent += m.text;
        break;
      case "end":
        if (streaming) { streaming.classList.remove("streaming"); streaming.removeAttribute("aria-busy"); }
        streaming = null;
        setBusy(false);
        showBalance(m.balance_micro);
        break;
      case "error":
        if (streaming) { streaming.classList.remove("streaming"); streaming.removeAttribute("aria-busy"); }
        streaming = null;
        setBusy(false);
        showError(sentence(m.code, m.message));
        if (m.code === "insufficient-credits") $("topup").focus();
        break;
      case "drain": showError(SENTENCES.draining); break;
      default: break;
    }
  }

  async function send(event) {
    event.preventDefault();
    const text = $("message").value.trim();
    if (!text) return;
    showError("");
    setBusy(true);
    try {
      const ws = await connect();
      bubble("user", text, "web");
      $("message").value = "";
      ws.send(JSON.stringify({ type: "chat", message: text, conversation_id: conversationId }));
    } catch {
      setBusy(false);
      showError("The chat connection could not be opened. Check your connection and try again.");
    }
  }

  // --- sign-in (EIP-1193 + EIP-4361) ---
  const toHex = (text) => "0x" + Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
  async function signIn() {
    showError("");
    const eth = window.ethereum;
    if (!eth) { showError("No wallet was found in this browser. Install a wallet extension, then reload."); return; }
    $("signin").disabled = true;
    try {
      const [account] = await eth.request({ method: "eth_requestAccounts" });
      const address = checksum(account);
      const { nonce } = await api("/api/v1/auth/nonce");
      const message = `${location.host} wants you to sign in with your Ethereum account:\n${address}\n\n`
        + `Sign in to chat with agent #${tokenId} of ${state ? state.community_name : slug}.\n\n`
        + `URI: ${location.origin}\nVersion: 1\nChain ID: ${chainId}\nNonce: ${nonce}\nIssued At: ${new Date().toISOString().replace(/\.\d{3}Z$/, "Z")}`;
      const signature = await eth.request({ method: "personal_sign", params: [toHex(message), account] });
      const session = await api("/api/v1/auth/siwe", { method: "POST", json: { message, signature } });
      sessionToken = session.token;
      await refresh();
    } catch (error) {
      showError(error && error.code === 4001 ? "You declined the signature, so you are still signed out." : (error.message || "Sign-in failed. Try again."));
    } finally {
      $("signin").disabled = false;
    }
  }

  async function topUp() {
    showError("");
    const popup = window.open("", "_blank");
    try {
      const payment = await api("/api/v1/payments", { method: "POST", json: { pack_id: $("pack").value, community: slug } });
      if (popup) popup.location.href = payment.invoice_url; else location.href = payment.invoice_url;
    } catch (error) {
      if (popup) popup.close();
      showError(error.message);
    }
  }

  function signedOut() {
    $("signin").hidden = false;
    $("wallet").hidden = true;
    $("balance").hidden = true;
    $("topup-box").hidden = true;
    $("composer").hidden = true;
    $("chat").hidden = true;
  }

  async function refresh() {
    state = await api(`/api/v1/webchat/${slug}/${tokenId}/state`);
    chainId = state.chain_id;
    $("community-name").textContent = state.community_name;
    $("readonly").hidden = true;
    if (state.mode === "signed_out") { signedOut(); return; }
    $("signin").hidden = true;
    $("wallet").textContent = "Signed in as " + state.address.slice(0, 6) + "…" + state.address.slice(-4);
    $("wallet").hidden = false;
    if (state.mode === "read_only") {
      $("readonly").textContent = "Read-only: " + state.reason;
      $("readonly").hidden = false;
      return;
    }
    showBalance(state.balance_micro);
    $("topup-box").hidden = false;
    $("chat").hidden = false;
    $("composer").hidden = false;
    $("log").replaceChildren();
    nextBefore = null;
    await loadHistory(false);
    connect().catch(() => {});
    if (!$("pack").options.length) {
      try {
        for (const pack of await api("/api/v1/credit-packs")) $("pack").add(new Option(`${pack.id} · $${pack.price_usd}`, pack.id));
      } catch { $("topup-box").hidden = true; }
    }
  }

  async function start() {
    $("signin").addEventListener("click", signIn);
    $("composer").addEventListener("submit", send);
    $("message").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); } });
    $("older").addEventListener("click", () => loadHistory(true).catch((e) => showError(e.message)));
    $("topup").addEventListener("click", topUp);
    api(`/api/v1/agents/${slug}/${tokenId}`).then((profile) => {
      $("agent-name").textContent = profile.display_name;
      document.title = profile.display_name + " · " + document.title.split(" · ").pop();
      $("summary").textContent = profile.summary;
      $("element").textContent = profile.element;
      body.dataset.element = String(profile.element).toLowerCase();
    }).catch((e) => { $("summary").textContent = e.message; });
    try { await refresh(); } catch (e) { showError(e.message); signedOut(); }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
