// The answer while you draw: the canvas' drawing read by the browser's engine (digitnet/reading/engine.js)
// at every frame the pen moves, shown in a panel of its own over the server's answer until the server's
// reading of the finished drawing arrives. The page sets window.digitnetLiveConfig before this runs.
(function () {
  "use strict";
  const config = window.digitnetLiveConfig;
  if (window.digitnetLive) {
    window.digitnetLive.configure(config);
    return;
  }
  const IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]';
  // How long after the pen lifts the live panel waits for the server's answer before it steps aside.
  const SERVER_WAIT_MS = 5000;

  const live = {engine: null, weights: null, url: null, layout: "desk", count: 0, drawing: false,
                liftedAt: 0, sawRun: false, scheduled: false, canvas: null, failed: false};

  live.configure = function (next) {
    live.layout = next.layout;
    live.network = next.network;
    live.side = next.canvas;
    live.background = next.background;
    if (next.url !== live.url) {
      live.url = next.url;
      live.weights = null; // never a reading by the old model with the new one's words, or the reverse
      live.engine = digitnetEngine.createEngine(next.constants);
      fetch(next.url).then(r => (r.ok ? r.arrayBuffer() : Promise.reject(r.status)))
        .then(buffer => { if (live.url === next.url) live.weights = live.engine.loadWeights(buffer); })
        .catch(() => { live.weights = null; }); // the page answers after each stroke, as without it
    }
  };

  // A stroke starts on the digit canvas' upper layer (Fabric draws a stroke there, then lays it down on
  // the lower one): any drawing canvas but the strip for several digits. Listened for on the window, as
  // the canvas lives in a shadow root that the component may replace at any run.
  function canvasOf(event) {
    const target = event.composedPath()[0];
    if (target instanceof HTMLCanvasElement && target.classList.contains("digit-pad")) return {upper: target}; // ui/pad.js
    if (!(target instanceof HTMLCanvasElement) || !target.classList.contains("upper-canvas")) return null;
    const host = target.getRootNode().host;
    if (!host || host.closest(".st-key-canvas-number")) return null;
    const lower = target.parentNode.querySelector("canvas.lower-canvas");
    return lower ? {upper: target, lower} : null;
  }

  function listen() {
    window.addEventListener("pointerdown", event => {
      const canvas = canvasOf(event);
      if (!canvas) return;
      live.canvas = canvas;
      live.drawing = true;
      schedule();
    }, {capture: true, passive: true});
    window.addEventListener("pointermove", () => { if (live.drawing) schedule(); }, {capture: true, passive: true});
    // The canvas follows a stroke that leaves it until the button or the finger lifts anywhere.
    const stop = () => {
      if (!live.drawing) return;
      live.drawing = false;
      live.liftedAt = performance.now();
      live.sawRun = false;
      // The final reading, once the canvas has laid the stroke down on its lower layer: at its next
      // frame, which it asks for while this event is handled.
      requestAnimationFrame(schedule);
    };
    window.addEventListener("pointerup", stop, {capture: true, passive: true});
    window.addEventListener("pointercancel", stop, {capture: true, passive: true});
    window.addEventListener("digitnet-pad-cleared", hide); // a phone's pad, cleared or sent
  }

  function schedule() {
    if (live.scheduled) return;
    live.scheduled = true;
    requestAnimationFrame(() => { live.scheduled = false; readNow(); });
  }

  function readNow() {
    if (!live.weights || live.failed || !live.canvas) return;
    try {
      const side = live.side;
      const surface = new OffscreenCanvas(side, side);
      const context = surface.getContext("2d", {willReadFrequently: true});
      context.fillStyle = live.background; // the component paints its background apart from its layers
      context.fillRect(0, 0, side, side);
      if (live.canvas.lower) context.drawImage(live.canvas.lower, 0, 0, side, side);
      context.drawImage(live.canvas.upper, 0, 0, side, side);
      const reading = live.engine.read(live.weights, context.getImageData(0, 0, side, side).data, side, side);
      if (reading === null) return; // not a drawing this engine reads: the server's answer stands
      live.count += 1;
      show(reading);
    } catch (error) {
      live.failed = true; // the page answers after each stroke, as without it
      hide();
    }
  }

  function answerArea() {
    return document.querySelector(".st-key-answer");
  }

  function panel() {
    const area = answerArea();
    if (!area) return null;
    let element = area.querySelector(":scope > .live-answer");
    if (!element) {
      element = document.createElement("div");
      element.className = "live-answer";
      element.setAttribute("data-testid", "live-answer");
      element.setAttribute("aria-hidden", "true"); // the server's answer is what a screen reader hears, once
      area.prepend(element);
    }
    return element;
  }

  const escape = text => text.replace(/[&<>'"]/g, c => "&#" + c.charCodeAt(0) + ";");

  // ui/answer.py's answer_html and probability_bars_html, for the live reading.
  function answerHtml(text, words) {
    return `<div class='digit-answer' style='font-size:7rem;font-weight:700;line-height:1;text-align:center'>` +
      `${escape(text)}</div><p class='answer-sentence' style='font-weight:600'>${escape(words)}</p>`;
  }

  function barsHtml(p, top) {
    const digit = p.indexOf(Math.max(...p));
    const shown = p.map((v, d) => d).sort((a, b) => p[b] - p[a]).slice(0, top).sort((a, b) => a - b);
    const bars = shown.map(d => `<div class='pbar${d === digit ? " top" : ""}'><span>${live.engine.percent(p[d])}</span>` +
      `<div><i style='height:${(Math.max(p[d], 0.0125) * 100).toFixed(1)}%'></i></div><b>${d}</b></div>`).join("");
    return `<div class='probability-bars${top === 10 ? "" : " big"}'>${bars}</div>`;
  }

  function inputHtml() {
    return `<figure class='network-input' style='margin:0 auto;text-align:center'>` +
      `<div style='position:relative;width:224px;height:224px;margin:0 auto'>` +
      `<canvas width='28' height='28' style='image-rendering:pixelated;display:block;width:224px;height:224px'></canvas>` +
      `<div style='position:absolute;inset:0;background-size:8px 8px;background-image:` +
      `linear-gradient(to right,rgba(128,128,128,.45) 1px,transparent 1px),` +
      `linear-gradient(to bottom,rgba(128,128,128,.45) 1px,transparent 1px)'></div></div>` +
      `<figcaption style='font-size:0.875rem;opacity:0.8'>What the network sees: 28 x 28 pixels</figcaption></figure>`;
  }

  function paintInput(element, x) {
    const canvas = element.querySelector("figure.network-input canvas");
    if (!canvas) return;
    const context = canvas.getContext("2d");
    const pixels = context.createImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      const v = Math.round(Math.min(Math.max(x[i], 0), 1) * 255);
      pixels.data.set([v, v, v, 255], i * 4);
    }
    context.putImageData(pixels, 0, 0);
  }

  // digitnet.reading.inside.network_picture for the live reading: presenter mode's "Inside the network",
  // lit as the pen moves. The weight of a link is its step times its unit's scale, as the engine reads it.
  function networkHtml(reading) {
    const L = live.network, layers = live.weights.layers;
    const p = reading.probabilities, digit = p.indexOf(Math.max(...p));
    const [input, hidden1, hidden2] = reading.activations;
    const weight = (layer, i, j) => layer.kernel[i * layer.cols + j] * layer.scales[j];
    const largest = (values, count) => values.map((v, i) => i).sort((a, b) => values[b] - values[a])
      .slice(0, count).filter(i => values[i] > 0);
    const intoAnswer = hidden2.map((h, j) => h * weight(layers[2], j, digit));
    const paths = [];
    for (const j of largest(intoAnswer, L.PATHS)) {
      paths.push([2, j, digit, intoAnswer[j]]);
      const intoJ = hidden1.map((h, i) => h * weight(layers[1], i, j));
      for (const i of largest(intoJ, L.FEEDERS)) paths.push([1, i, j, intoJ[i]]);
    }
    const grid = (centre, count) => {
      const rows = Math.ceil(count / L.GRID_COLUMNS), top = (L.HEIGHT - rows * L.DOT) / 2 + L.DOT / 2;
      const left = centre - L.GRID_COLUMNS * L.DOT / 2 + L.DOT / 2;
      return Array.from({length: count}, (_, i) => [left + (i % L.GRID_COLUMNS) * L.DOT, top + Math.floor(i / L.GRID_COLUMNS) * L.DOT]);
    };
    const step = (L.HEIGHT - 60) / 10;
    const positions = [grid(L.HIDDEN_COLUMNS[0], hidden1.length), grid(L.HIDDEN_COLUMNS[1], hidden2.length),
                       Array.from({length: 10}, (_, d) => [L.OUTPUT_X, 40 + step * d + step / 2])];
    const grey = strength => { const g = Math.trunc(235 - 235 * strength); return `rgb(${g},${g},${g})`; };
    const [left, top, right, bottom] = L.INPUT_BOX, side = (right - left) / 28;
    const parts = [`<rect width="${L.WIDTH}" height="${L.HEIGHT}" fill="white"/>`,
                   `<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="black"/>`];
    input.forEach((v, k) => {
      if (v <= 0) return;
      const g = Math.round(255 * Math.min(v, 1));
      parts.push(`<rect x="${left + (k % 28) * side}" y="${top + Math.floor(k / 28) * side}" width="${side + 0.3}" ` +
                 `height="${side + 0.3}" fill="rgb(${g},${g},${g})"/>`);
    });
    const strongest = Math.max(...paths.map(path => path[3]), 0) || 1;
    for (const [layer, source, target, amount] of paths) {
      const [x1, y1] = positions[layer - 1][source], [x2, y2] = positions[layer][target];
      parts.push(`<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="${L.FOR_COLOUR}" ` +
                 `stroke-width="${Math.max(1, Math.round(4 * amount / strongest))}"/>`);
    }
    [hidden1, hidden2].forEach((activation, layer) => {
      const most = Math.max(Math.max(...activation), 1e-9);
      positions[layer].forEach(([cx, cy], i) => parts.push(`<circle cx="${cx}" cy="${cy}" r="3.5" fill="${grey(activation[i] / most)}"/>`));
    });
    positions[2].forEach(([cx, cy], d) => parts.push(
      `<circle cx="${cx}" cy="${cy}" r="9" fill="${d === digit ? L.FOR_COLOUR : grey(p[d])}" stroke="rgb(120,120,120)"/>` +
      `<text x="${cx + 14}" y="${cy}" dominant-baseline="central">${d}</text>`));
    [["pixels", (left + right) / 2], ["hidden 1", L.HIDDEN_COLUMNS[0]], ["hidden 2", L.HIDDEN_COLUMNS[1]],
     ["answer", L.OUTPUT_X]].forEach(([label, cx]) => parts.push(
      `<text x="${cx}" y="8" text-anchor="middle" dominant-baseline="hanging">${label}</text>`));
    return `<h3 style='font-size:1.75rem;font-weight:600;padding:0.75rem 0 1rem;margin:0'>Inside the network</h3>` +
      `<p class='inside-words'>${escape(L.WORDS.replace("{digit}", String(digit)))}</p>` +
      `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${L.WIDTH} ${L.HEIGHT}" style="width:100%;height:auto" ` +
      `font-family="sans-serif" font-size="${L.FONT_SIZE}">${parts.join("")}</svg>`;
  }

  // Presenter mode's network, live: in the place of the server's picture of the last drawing when it is
  // on the page (nothing moves when the server's takes over), under the live answer when it is not.
  function showNetwork(element, reading) {
    const server = document.querySelector(".st-key-network");
    let network = (server || element).querySelector(":scope > .live-network");
    if (!network) {
      network = document.createElement("div");
      network.className = "live-network";
      network.setAttribute("aria-hidden", "true");
      (server || element).prepend(network);
    }
    network.innerHTML = networkHtml(reading);
    if (server) server.classList.add("live");
  }

  function show(reading) {
    const element = panel();
    if (!element) return;
    const area = answerArea();
    if (reading.refused) {
      element.innerHTML = reading.refused === "blank" ? `<p class='live-refused'>${escape(reading.message)}.</p>` : "";
      element.dataset.liveDigit = "";
      element.dataset.liveConfidence = "0";
    } else {
      const p = reading.probabilities, digit = p.indexOf(Math.max(...p));
      const big = live.layout !== "desk"; // presenter mode and a phone
      const answer = answerHtml(String(digit), live.engine.sentence(p));
      element.innerHTML = big ? answer + barsHtml(p, 3)
        : `<div class='answer-row' style='display:flex;flex-wrap:wrap;gap:1rem;align-items:center'>` +
          `<div class='answer-guess' style='flex:1 1 170px'>${answer}</div>${inputHtml()}</div>${barsHtml(p, 10)}`;
      if (!big) paintInput(element, reading.x);
      if (live.layout === "big") showNetwork(element, reading);
      element.dataset.liveDigit = String(digit);
      element.dataset.liveConfidence = String(p[digit]);
    }
    element.dataset.liveCount = String(live.count);
    area.classList.add("live");
  }

  // The server's answer shows again; the panel keeps only its data-live-* (the last reading), so that
  // nothing on the page is there twice.
  function hide() {
    const area = answerArea();
    if (!area) return;
    area.classList.remove("live");
    const element = area.querySelector(":scope > .live-answer");
    if (element) element.innerHTML = "";
    const server = document.querySelector(".st-key-network.live");
    if (server) {
      server.classList.remove("live");
      server.querySelector(":scope > .live-network")?.remove();
    }
  }

  // Once the pen is up and the server has answered the finished drawing (its run started and ended
  // after the lift), its answer replaces the live one: the same reading, so nothing moves.
  function watch() {
    const area = answerArea();
    // On a phone the live reading is the answer until Send: the server reads the drawing only then.
    if (area && area.classList.contains("live") && !live.drawing && live.liftedAt && live.layout !== "phone") {
      const idle = document.querySelector(IDLE) !== null;
      if (!idle) live.sawRun = true;
      if ((live.sawRun && idle) || performance.now() - live.liftedAt > SERVER_WAIT_MS) {
        hide();
        live.liftedAt = 0;
      }
    }
  }

  live.configure(config);
  listen();
  new MutationObserver(watch).observe(document.body, {childList: true, subtree: true, attributes: true,
                                                      attributeFilter: ["data-test-script-state"]});
  setInterval(watch, 250);
  window.digitnetLive = live;
})();
