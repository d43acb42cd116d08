// A room's phone draws here: a canvas, Clear and Send to the screen. Strokes stay in the browser (the
// page's live answer, ui/live.js, reads them as the pen moves); only Send tells the server, with the
// one finished drawing. Streamlit calls this at the pad's first run and whenever the server's data for
// it changes (data.sends: how many of this page's Sends the server has answered; data.cleared: how many
// of its drawings it took, each of which clears the pad).
export default function ({parentElement, data, setTriggerValue}) {
  const canvas = parentElement.querySelector("canvas.digit-pad");
  const clear = parentElement.querySelector("button.pad-clear");
  const send = parentElement.querySelector("button.pad-send");
  const context = canvas.getContext("2d");

  function blank() {
    context.fillStyle = data.background;
    context.fillRect(0, 0, data.side, data.side);
    window.dispatchEvent(new CustomEvent("digitnet-pad-cleared")); // the live answer steps aside
  }

  // Send takes one click until the server answers it: the next data Streamlit gives the pad.
  if (canvas.dataset.sends !== String(data.sends)) {
    canvas.dataset.sends = String(data.sends);
    send.removeAttribute("aria-disabled");
    send.textContent = data.words.send;
  }
  if (canvas.dataset.ready && canvas.dataset.cleared !== String(data.cleared)) blank(); // sent: a fresh pad
  canvas.dataset.cleared = String(data.cleared);
  if (canvas.dataset.ready) return;
  canvas.dataset.ready = "1";

  canvas.width = canvas.height = data.side;
  canvas.setAttribute("aria-label", data.words.canvas);
  clear.textContent = data.words.clear;
  send.textContent = data.words.send;

  // Strokes as the canvas on the Draw page lays them down: round ends and joins, quadratic curves
  // through the midpoints of the points the pointer gave.
  context.lineCap = context.lineJoin = "round";
  let points = null;
  const middle = (a, b) => [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
  const at = event => {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * data.side / box.width, (event.clientY - box.top) * data.side / box.height];
  };

  function segment() {
    const n = points.length;
    context.strokeStyle = data.ink;
    context.lineWidth = data.stroke;
    context.beginPath();
    if (n === 1) {
      context.moveTo(points[0][0], points[0][1]);
      context.lineTo(points[0][0] + 0.01, points[0][1]); // a tap is a dot
    } else {
      const from = n === 2 ? points[0] : middle(points[n - 3], points[n - 2]);
      const to = middle(points[n - 2], points[n - 1]);
      context.moveTo(from[0], from[1]);
      context.quadraticCurveTo(points[n - 2][0], points[n - 2][1], to[0], to[1]);
    }
    context.stroke();
  }

  canvas.addEventListener("pointerdown", event => {
    canvas.setPointerCapture(event.pointerId); // a stroke that leaves the canvas goes on until the lift
    points = [at(event)];
    segment();
  });
  canvas.addEventListener("pointermove", event => {
    if (!points) return;
    for (const step of event.getCoalescedEvents ? event.getCoalescedEvents() : [event]) points.push(at(step));
    if (points.length > 1) segment();
  });
  const lift = () => {
    if (!points || points.length < 2) { points = null; return; }
    const last = points[points.length - 1];
    context.beginPath(); // the stroke's last half segment, to where the pen lifted
    context.moveTo(...middle(points[points.length - 2], last));
    context.lineTo(last[0], last[1]);
    context.stroke();
    points = null;
  };
  canvas.addEventListener("pointerup", lift);
  canvas.addEventListener("pointercancel", lift);

  clear.addEventListener("click", blank);
  send.addEventListener("click", () => {
    if (send.getAttribute("aria-disabled")) return;
    send.setAttribute("aria-disabled", "true");
    send.textContent = data.words.sending;
    setTriggerValue("send", canvas.toDataURL("image/png"));
  });
  blank();
}
