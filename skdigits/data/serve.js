// The drawing page of `skdigits serve`: strokes on a transparent canvas are sent to
// POST /predict as a PNG (the opaque pixels are the ink) while drawing, at most one
// request at a time; the answer fills the prediction, the bars and the 28x28 preview.
// document.body.dataset.state is "idle", "busy", "done" or "error" (the tests wait on it).
"use strict";

const canvas = document.getElementById("canvas");
const pen = canvas.getContext("2d");
const preview = document.getElementById("preview").getContext("2d");
const predictionBox = document.getElementById("prediction");
const bars = document.getElementById("bars");
const errorBox = document.getElementById("error");
let drawing = false;
let inked = false;
let inFlight = false;
let pending = null; // the newest image waiting while a request is in flight
let generation = 0; // bumped by Clear: answers about an earlier drawing are dropped

pen.lineWidth = 20;
pen.lineCap = "round";
pen.lineJoin = "round";
pen.strokeStyle = "#000";

function point(event) {
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
}

canvas.addEventListener("pointerdown", (event) => {
  drawing = true;
  canvas.setPointerCapture(event.pointerId);
  const [x, y] = point(event);
  pen.beginPath();
  pen.moveTo(x, y);
  pen.lineTo(x, y + 0.01); // a dot for a click
  pen.stroke();
  inked = true;
});

canvas.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const [x, y] = point(event);
  pen.lineTo(x, y);
  pen.stroke();
  sendCanvas();
});

for (const type of ["pointerup", "pointercancel"]) {
  canvas.addEventListener(type, () => {
    if (!drawing) return;
    drawing = false;
    sendCanvas();
  });
}

document.getElementById("clear").addEventListener("click", () => {
  pen.clearRect(0, 0, canvas.width, canvas.height);
  generation += 1;
  inked = false;
  pending = null;
  show(null);
  errorBox.textContent = "";
  document.body.dataset.state = "idle";
});

document.getElementById("upload").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) send(file);
});

function sendCanvas() {
  if (!inked) return;
  const drawn = generation;
  canvas.toBlob((blob) => { if (drawn === generation) send(blob); }, "image/png");
}

async function send(image) {
  if (inFlight) {
    pending = image;
    return;
  }
  inFlight = true;
  const asked = generation;
  document.body.dataset.state = "busy";
  try {
    const response = await fetch("/predict", {method: "POST", body: image, headers: {"Content-Type": image.type || "application/octet-stream"}});
    const answer = await response.json();
    if (asked === generation) { // else the page was cleared meanwhile
      if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
      show(answer);
      errorBox.textContent = "";
      document.body.dataset.state = "done";
    }
  } catch (error) {
    if (asked === generation) {
      errorBox.textContent = error.message;
      document.body.dataset.state = "error";
    }
  } finally {
    inFlight = false;
  }
  if (pending) {
    const next = pending;
    pending = null;
    send(next);
  }
}

function show(answer) {
  bars.replaceChildren();
  preview.clearRect(0, 0, 28, 28);
  predictionBox.textContent = answer ? String(answer.label) : "";
  if (!answer) return;
  answer.classes.forEach((label, i) => {
    const probability = answer.probabilities[i];
    const name = document.createElement("span");
    name.textContent = String(label);
    const track = document.createElement("div");
    track.className = "track";
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.style.width = `${(100 * probability).toFixed(1)}%`;
    track.append(bar);
    const value = document.createElement("span");
    value.textContent = `${(100 * probability).toFixed(1)}%`;
    const row = document.createElement("div");
    row.style.display = "contents";
    row.setAttribute("role", "listitem");
    row.dataset.label = String(label);
    row.dataset.probability = String(probability);
    if (String(label) === String(answer.label)) row.className = "best";
    row.append(name, track, value);
    bars.append(row);
  });
  const pixels = preview.createImageData(28, 28);
  answer.pixels.forEach((value, i) => {
    pixels.data.set([value, value, value, 255], 4 * i);
  });
  preview.putImageData(pixels, 0, 0);
}
