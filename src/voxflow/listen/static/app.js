// The browser side of a voxflow listening test (the server: voxflow/listen/app.py).
//
// One page; each view (start, training and MUSHRA, AB, finish) is a <template> of index.html
// cloned into <main>. The server decides what comes next: every answer returns the session,
// whose `page` is the next page to show (null when all are done). The listener token lives in
// localStorage, so a closed tab or a restarted server resumes at the first page not submitted.
//
// Audio: each page's sounds are fetched and decoded into AudioBuffers first, then played with
// the Web Audio API, so that switching between them is instant and keeps the position (a short
// cross-fade avoids clicks). A MUSHRA page loops the whole sound or a chosen region.
"use strict";

const FADE_S = 0.005;        // cross-fade when switching sounds
const MIN_LOOP_S = 0.1;      // shortest loop region
const audioContext = new AudioContext();
let test = null;             // GET /api/test
let token = null;            // this listener's, or null before the start page
let player = null;           // the current page's Player
let keyHandler = null;       // the current page's keyboard shortcuts: key -> handled?

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = token ? {Authorization: `Bearer ${token}`} : {};
  const options = {method, headers};
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data.error || response.statusText);
  return data;
}

function $(selector, root = document) {
  return root.querySelector(selector);
}

function element(tag, properties = {}, children = []) {
  const node = Object.assign(document.createElement(tag), properties);
  node.append(...children);
  return node;
}

function setStatus(message) {
  $("#status").textContent = message;
}

// Replace the view by a clone of template `id`; returns its root element.
function render(id) {
  if (player) player.close();
  player = null;
  keyHandler = null;
  setStatus("");
  const view = $("#view");
  view.replaceChildren($(`#${id}`).content.cloneNode(true));
  return view.firstElementChild;
}

function tokenKey() {
  return `voxflow-listen/${test.test_id}`;
}

function forget() {
  token = null;
  localStorage.removeItem(tokenKey());
}

// Show what the session says comes next.
function show(session) {
  const progress = $("#progress");
  progress.hidden = false;
  $("#progress-bar").max = session.total;
  $("#progress-bar").value = session.done;
  $("#progress-text").textContent = session.page
    ? `Page ${session.done + 1} of ${session.total}` : `${session.total} of ${session.total} done`;
  const page = session.page;
  const shown = !page ? showFinish(session)
    : page.kind === "ab" ? showAB(page) : showMushra(page);
  return shown.then(() => $("#view h2").focus());
}

// Errors of any view: a lost session goes back to the start, a page submitted elsewhere
// (another tab) to the session's next page; anything else is said in the status line.
async function recover(error) {
  if (error instanceof ApiError && error.status === 401) {
    forget();
    await showStart();
    setStatus("Your session was not found: please start again.");
  } else if (error instanceof ApiError && error.status === 409) {
    await show(await api("GET", "/api/session"));
  } else {
    setStatus(`Error: ${error.message}`);
  }
}

async function showStart() {
  $("#progress").hidden = true;
  const view = render("start-view");
  $(".welcome", view).textContent = test.welcome;
  $(".consent-text", view).textContent = test.consent;
  if (test.groups.length > 1) {
    $(".groups", view).hidden = false;
    $(".group-list", view).append(...test.groups.map((group) => element("label", {}, [
      element("input", {type: "checkbox", name: "group", value: group, checked: true}),
      ` ${group}`])));
  }
  $("form", view).addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {name: $("#listener-name").value, consent: $("#consent").checked};
    if (test.groups.length > 1) {
      body.groups = [...view.querySelectorAll("input[name=group]:checked")].map((i) => i.value);
    }
    try {
      const session = await api("POST", "/api/listeners", body);
      token = session.token;
      localStorage.setItem(tokenKey(), token);
      await show(session);
    } catch (error) {
      setStatus(`Error: ${error.message}`);
    }
  });
  $("#listener-name").focus();
}

async function loadBuffers(urls) {
  const entries = Object.entries(urls).map(async ([key, url]) => {
    const response = await fetch(url, {headers: {Authorization: `Bearer ${token}`}});
    if (!response.ok) throw new ApiError(response.status, `cannot load audio ${key}`);
    return [key, await audioContext.decodeAudioData(await response.arrayBuffer())];
  });
  return new Map(await Promise.all(entries));
}

// Plays one of several decoded sounds at a time; `play` switches at the same position.
class Player {
  constructor(buffers, loop) {
    this.buffers = buffers;
    this.loop = loop;
    this.duration = Math.max(...[...buffers.values()].map((b) => b.duration));
    this.loopStart = 0;
    this.loopEnd = this.duration;
    this.restAt = 0;          // where the next sound starts when none plays
    this.active = null;       // {key, source, gain, startedAt, offset}
    this.played = new Set();
    this.onchange = () => {};
  }

  // `now` is given when a caller must see the same audio clock reading twice: the clock moves on
  // in whole render quanta on the audio thread, even within one task.
  position(now = audioContext.currentTime) {
    if (!this.active) return this.restAt;
    const {startedAt, offset} = this.active;
    const position = offset + now - startedAt;
    if (!this.loop || position < this.loopEnd) return position;
    return this.loopStart + (position - this.loopStart) % (this.loopEnd - this.loopStart);
  }

  play(key, at) {
    audioContext.resume();
    const now = audioContext.currentTime;
    const buffer = this.buffers.get(key);
    at ??= this.position(now);
    let offset = this.loop ? Math.min(Math.max(at, this.loopStart), this.loopEnd - 0.01) : at;
    if (offset >= buffer.duration) offset = 0;
    this.fadeOut(now);
    const source = audioContext.createBufferSource();
    source.buffer = buffer;
    if (this.loop) {
      Object.assign(source, {loop: true, loopStart: this.loopStart, loopEnd: this.loopEnd});
    }
    const gain = audioContext.createGain();
    gain.gain.setValueAtTime(0, now);
    gain.gain.linearRampToValueAtTime(1, now + FADE_S);
    source.connect(gain).connect(audioContext.destination);
    source.start(now, offset);
    const active = {key, source, gain, startedAt: now, offset};
    source.onended = () => {
      if (this.active === active) this.stop();
    };
    this.active = active;
    this.played.add(key);
    this.onchange();
  }

  fadeOut(now) {
    if (!this.active) return;
    const {source, gain} = this.active;
    this.active = null;
    source.onended = null;
    gain.gain.cancelScheduledValues(now);
    gain.gain.setValueAtTime(gain.gain.value, now);
    gain.gain.linearRampToValueAtTime(0, now + FADE_S);
    source.stop(now + FADE_S);
  }

  stop() {
    this.fadeOut(audioContext.currentTime);
    this.restAt = this.loop ? this.loopStart : 0;
    this.onchange();
  }

  seek(at) {
    if (this.active) this.play(this.active.key, at);
    else this.restAt = at;
  }

  setLoop(start, end) {
    this.loopStart = start;
    this.loopEnd = end;
    this.restAt = Math.min(Math.max(this.restAt, start), end);
    if (this.active) this.play(this.active.key);
  }

  close() {
    this.fadeOut(audioContext.currentTime);
    this.onchange = () => {};
  }
}

async function loadPlayer(urls, loop) {
  setStatus("Loading the sounds…");
  const buffers = await loadBuffers(urls);
  setStatus("");
  return new Player(buffers, loop);
}

// A page's submit button: enabled once every sound was played (and `ready()`), with a hint
// of what is missing; `send()` posts the answer.
function guardSubmit(view, keys, ready, send) {
  const button = $(".submit", view);
  const update = () => {
    const left = keys.filter((key) => !player.played.has(key)).length;
    button.disabled = left > 0 || !ready();
    $(".hint", view).textContent = left > 0
      ? `Play every sound before you go on: ${left} not played yet.`
      : ready() ? "" : "Choose an answer to go on.";
  };
  button.addEventListener("click", async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    try {
      await show(await send());
    } catch (error) {
      button.disabled = false;
      await recover(error);
    }
  });
  return update;
}

// Mark on each sound's button whether it plays and whether it was played, then `update()`.
function followPlayer(buttons, update) {
  player.onchange = () => {
    for (const [key, button] of Object.entries(buttons)) {
      button.setAttribute("aria-pressed", String(player.active?.key === key));
      button.classList.toggle("played", player.played.has(key));
    }
    update();
  };
  player.onchange();
}

async function showMushra(page) {
  const view = render("mushra-view");
  const training = page.kind === "training";
  $(".page-title", view).textContent = training ? "Training" : "Rate the conditions";
  $(".note", view).textContent = training ? "This page is for practice: get to know the " +
    "sounds, the controls and the scale. Its ratings are not recorded." : "";
  $(".instructions", view).textContent = page.instructions;
  const urls = {reference: page.reference};
  for (const condition of page.conditions) urls[condition.key] = condition.audio;
  player = await loadPlayer(urls, true);
  const keys = Object.keys(urls);
  const buttons = {reference: $(".reference", view)};
  const sliders = {};
  const ratings = $(".ratings", view);
  ratings.style.setProperty("--conditions", page.conditions.length);
  page.conditions.forEach((condition, index) => {
    const column = $("#condition").content.cloneNode(true).firstElementChild;
    const play = $(".play", column);
    const slider = $(".score", column);
    const value = $(".score-value", column);
    play.textContent = condition.key;
    play.setAttribute("aria-label", `Play condition ${condition.key}`);
    slider.setAttribute("aria-label", `Score of condition ${condition.key}`);
    slider.addEventListener("input", () => {
      value.textContent = slider.value;
    });
    for (const part of [play, slider, value]) part.style.gridColumn = index + 2;
    buttons[condition.key] = play;
    sliders[condition.key] = slider;
    ratings.append(column);
  });
  for (const [key, button] of Object.entries(buttons)) {
    button.addEventListener("click", () => player.play(key));
  }
  $(".stop", view).addEventListener("click", () => player.stop());
  const loopAt = setUpLoop(view);
  const update = guardSubmit(view, keys, () => true, () => api(
    "POST", `/api/pages/${page.id}`, training ? {} : {ratings: Object.fromEntries(
      Object.entries(sliders).map(([key, slider]) => [key, Number(slider.value)]))}));
  followPlayer(buttons, update);
  keyHandler = (key) => {
    const condition = key.length === 1 ? key.toUpperCase() : key;
    if (condition === "R") player.play("reference");
    else if (condition === "S") player.stop();
    else if (buttons[condition]) player.play(condition);
    else if (key === "[") loopAt("start");
    else if (key === "]") loopAt("end");
    else if (key === "Escape") loopAt("reset");
    else return false;
    return true;
  };
  view.dataset.page = page.id;     // the page is ready (its sounds loaded)
}

// The loop region's sliders and the timeline (region, cursor, click to move); returns
// loopAt("start" | "end" | "reset"), which moves an end of the region to the playback position
// or loops the whole sound again.
function setUpLoop(view) {
  const start = $(".loop-start", view);
  const end = $(".loop-end", view);
  const timeline = $(".timeline", view);
  const duration = player.duration;
  for (const input of [start, end]) input.max = duration.toFixed(2);
  end.value = duration.toFixed(2);
  const apply = (changed) => {
    let from = Number(start.value);
    let to = Number(end.value);
    if (to - from < MIN_LOOP_S) {
      if (changed === start) from = Math.max(0, to - MIN_LOOP_S);
      else to = Math.min(duration, from + MIN_LOOP_S);
    }
    start.value = from;
    end.value = to;
    $(".loop-start-value", view).textContent = from.toFixed(2);
    $(".loop-end-value", view).textContent = to.toFixed(2);
    const region = $(".loop-region", view);
    region.style.left = `${100 * from / duration}%`;
    region.style.width = `${100 * (to - from) / duration}%`;
    player.setLoop(from, to);
  };
  start.addEventListener("input", () => apply(start));
  end.addEventListener("input", () => apply(end));
  const loopAt = (which) => {
    if (which === "reset") {
      start.value = 0;
      end.value = duration;
    } else {
      (which === "start" ? start : end).value = player.position().toFixed(2);
    }
    apply(which === "end" ? end : start);
  };
  timeline.addEventListener("click", (event) => {
    const box = timeline.getBoundingClientRect();
    player.seek(duration * (event.clientX - box.left) / box.width);
  });
  apply(end);
  const current = player;
  const draw = () => {
    if (player !== current) return;
    $(".cursor", view).style.left = `${100 * player.position() / duration}%`;
    requestAnimationFrame(draw);
  };
  draw();
  return loopAt;
}

async function showAB(page) {
  const view = render("ab-view");
  $(".group", view).textContent = test.groups.length > 1 ? `Group: ${page.group}` : "";
  $(".instructions", view).textContent = page.instructions;
  const urls = Object.fromEntries(page.samples.map((sample) => [sample.key, sample.audio]));
  player = await loadPlayer(urls, false);
  const buttons = {};
  for (const sample of page.samples) {
    buttons[sample.key] = element("button", {type: "button", className: "play"},
      [`Play ${sample.label} `, element("kbd", {textContent: sample.key})]);
    buttons[sample.key].addEventListener("click", () => player.play(sample.key));
  }
  $(".samples", view).prepend(...Object.values(buttons));
  $(".stop", view).addEventListener("click", () => player.stop());
  const choices = $(".choices", view);
  choices.append(...page.choices.map((choice) => element("label", {}, [
    element("input", {type: "radio", name: "choice", value: choice.value, required: true}),
    ` ${choice.label}`])));
  const chosen = () => $("input[name=choice]:checked", view);
  const update = guardSubmit(view, Object.keys(urls), () => chosen() !== null,
    () => api("POST", `/api/pages/${page.id}`, {choice: chosen().value}));
  $("form", view).addEventListener("submit", (event) => {
    event.preventDefault();
    $(".submit", view).click();
  });
  choices.addEventListener("change", update);
  followPlayer(buttons, update);
  keyHandler = (key) => {
    if (buttons[key]) player.play(key);
    else if (key.toUpperCase() === "S") player.stop();
    else return false;
    return true;
  };
  view.dataset.page = page.id;     // the page is ready (its sounds loaded)
}

async function showFinish(session) {
  const view = render("finish-view");
  $(".finish", view).textContent = test.finish;
  $(".summary", view).textContent =
    `${session.listener}: all ${session.total} pages done. Your answers are stored.`;
  $(".new-listener", view).addEventListener("click", () => {
    forget();
    showStart();
  });
}

document.addEventListener("keydown", (event) => {
  const typing = event.target.matches("input[type=text], input:not([type]), textarea");
  if (!keyHandler || typing || event.ctrlKey || event.metaKey || event.altKey) return;
  if (keyHandler(event.key)) event.preventDefault();
});

async function main() {
  test = await api("GET", "/api/test");
  document.title = test.title;
  $("#title").textContent = test.title;
  token = localStorage.getItem(tokenKey());
  if (!token) {
    await showStart();
    return;
  }
  try {
    await show(await api("GET", "/api/session"));
  } catch (error) {
    await recover(error);
  }
}

main().catch((error) => setStatus(`Error: ${error.message}`));
