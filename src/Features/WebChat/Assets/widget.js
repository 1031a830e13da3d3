// Freeside chat widget: <script src="https://FREESIDE/widget/v1/widget.js" data-community="SLUG" data-token-id="ID"
//   data-theme="light|dark" data-position="bottom-right|bottom-left|fullscreen" async></script>
// Renders a launcher and an iframe of the chat page; no API key, nothing but this file is loaded from the host page.
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script) return;
  const base = new URL(script.src).origin;
  const community = script.dataset.community;
  const tokenId = script.dataset.tokenId;
  if (!community || !/^[0-9]+$/.test(tokenId || "")) {
    console.error("freeside widget: data-community and a numeric data-token-id are required");
    return;
  }
  const theme = script.dataset.theme === "dark" ? "dark" : "light";
  const position = ["bottom-left", "fullscreen"].includes(script.dataset.position) ? script.dataset.position : "bottom-right";
  const side = position === "bottom-left" ? "left" : "right";

  const host = document.createElement("div");
  host.setAttribute("data-freeside-widget", community + "/" + tokenId);
  const shadow = host.attachShadow({ mode: "open" });
  const style = document.createElement("style");
  style.textContent = `
    .launcher { position: fixed; bottom: 20px; ${side}: 20px; width: 56px; height: 56px; border-radius: 50%; border: 0; cursor: pointer;
      background: ${theme === "dark" ? "#eceef3" : "#3451b2"}; color: ${theme === "dark" ? "#14161b" : "#fff"}; font: 600 22px system-ui, sans-serif;
      box-shadow: 0 4px 14px rgba(0,0,0,.25); z-index: 2147483646; }
    .launcher:focus-visible { outline: 3px solid #f5b400; outline-offset: 3px; }
    .frame { position: fixed; bottom: 88px; ${side}: 20px; width: min(400px, calc(100vw - 40px)); height: min(640px, calc(100vh - 120px));
      border: 0; border-radius: 14px; box-shadow: 0 10px 40px rgba(0,0,0,.3); background: ${theme === "dark" ? "#14161b" : "#fff"}; z-index: 2147483647; }
    .frame.fullscreen { inset: 0; width: 100vw; height: 100vh; border-radius: 0; }
    @media (max-width: 480px) { .frame { inset: 0; width: 100vw; height: 100vh; border-radius: 0; } }
    [hidden] { display: none; }`;
  const frame = document.createElement("iframe");
  frame.className = "frame" + (position === "fullscreen" ? " fullscreen" : "");
  frame.title = "Chat with agent #" + tokenId;
  frame.src = `${base}/chat/${encodeURIComponent(community)}/${tokenId}?embed=1&theme=${theme}`;
  frame.allow = "clipboard-write";
  frame.referrerPolicy = "no-referrer";
  shadow.append(style, frame);
  if (position !== "fullscreen") {
    frame.hidden = true;
    const launcher = document.createElement("button");
    launcher.className = "launcher";
    launcher.type = "button";
    launcher.setAttribute("aria-label", "Open the chat with agent #" + tokenId);
    launcher.setAttribute("aria-expanded", "false");
    launcher.textContent = "💬";
    launcher.addEventListener("click", () => {
      frame.hidden = !frame.hidden;
      launcher.setAttribute("aria-expanded", String(!frame.hidden));
      launcher.textContent = frame.hidden ? "💬" : "×";
      launcher.setAttribute("aria-label", (frame.hidden ? "Open" : "Close") + " the chat with agent #" + tokenId);
    });
    shadow.append(launcher);
  }
  (document.body || document.documentElement).append(host);
})();
