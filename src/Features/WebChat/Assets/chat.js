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

  // --- Keccak-256, for the EIP-55 address checksum the sign-in message needs ---
  const RC = ["0x1", "0x8082", "0x800000000000808a", "0x8000000080008000", "0x808b", "0x80000001", "0x8000000080008081",
    "0x8000000000008009", "0x8a", "0x88", "0x80008009", "0x8000000a", "0x8000808b", "0x800000000000008b", "0x8000000000008089",
    "0x8000000000008003", "0x8000000000008002", "0x8000000000000080", "0x800a", "0x800000008000000a", "0x8000000080008081",
    "0x8000000000008080", "0x80000001", "0x8000000080008008"].map(BigInt);
  const ROT = [[0, 36, 3, 41, 18], [1, 44, 10, 45, 2], [62, 6, 43, 15, 61], [28, 55, 25, 21, 56], [27, 20, 39, 8, 14]];
  const MASK = (1n << 64n) - 1n;
  const rotl = (v, n) => (n === 0 ? v : ((v << BigInt(n)) | (v >> BigInt(64 - n))) & MASK);
  function keccakF(A) {
    for (let round = 0; round < 24; round++) {
      const C = [0, 1, 2, 3, 4].map((x) => A[x] ^ A[x + 5] ^ A[x + 10] ^ A[x + 15] ^ A[x + 20]);
      for (let x = 0; x < 5; x++) {
        const D = C[(x + 4) % 5] ^ rotl(C[(x + 1) % 5], 1);
        for (let y = 0; y < 25; y += 5) A[x + y] ^= D;
      }
      const B = new Array(25);
      for (let x = 0; x < 5; x++) for (let y = 0; y < 5; y++) B[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(A[x + 5 * y], ROT[x][y]);
      for (let x = 0; x < 5; x++) for (let y = 0; y < 5; y++) A[x + 5 * y] = B[x + 5 * y] ^ (~B[(x + 1) % 5 + 5 * y] & MASK & B[(x + 2) % 5 + 5 * y]);
      A[0] ^= RC[round];
    }
  }
  function keccak256(bytes) {
    const rate = 136;
    const padded = new Uint8Array(Math.ceil((bytes.length + 1) / rate) * rate);
    padded.set(bytes);
    padded[bytes.length] ^= 0x01;
    padded[padded.length - 1] ^= 0x80;
    const A = new Array(25).fill(0n);
    for (let off = 0; off < padded.length; off += rate) {
      for (let i = 0; i < rate / 8; i++) {
        let lane = 0n;
        for (let b = 7; b >= 0; b--) lane = (lane << 8n) | BigInt(padded[off + i * 8 + b]);
        A[i] ^= lane;
      }
      keccakF(A);
    }
    const out = new Uint8Array(32);
    for (let i = 0; i < 4; i++) for (let b = 0; b < 8; b++) out[i * 8 + b] = Number((A[i] >> BigInt(8 * b)) & 0xffn);
    return out;
  }
  function checksum(address) {
    const hex = address.toLowerCase().replace(/^0x/, "");
    const hash = Array.from(keccak256(new TextEncoder().encode(hex)), (b) => b.toString(16).padStart(2, "0")).join("");
    return "0x" + [...hex].map((c, i) => (parseInt(hash[i], 16) >= 8 ? c.toUpperCase() : c)).join("");
  }
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
