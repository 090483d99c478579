// Tessera playground: runs POST /v1/generate with "stream": true and draws each SSE step.
//
// No build step and no dependencies. What the model can do comes from GET /v1/models (its
// "infill" flag enables the Infill task). State for tests lives on <body>: data-steps (step
// events drawn), data-done ("1" once the final event arrived), data-state (idle, running,
// done, error, stopped) and data-errors (kept by the inline script in index.html).
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const MASK = '\u2592'; // ▒, the server's mask symbol

  const TASKS = {
    text: {
      target: { generate: 'text' },
      input: 'prompt',
      prompt: '123+45=',
      examples: ['123+45=', 'sort 5 3 9 1 =', 'sudoku 1.3.|.41.|4..3|2.4. ='],
    },
    t2i: {
      target: { generate: 'image' },
      input: 'prompt',
      prompt: 'a large red circle at the top left',
      examples: [
        'a large red circle at the top left',
        'a small blue square at the center',
        'a large yellow triangle at the bottom right',
      ],
    },
    caption: { target: { generate: 'text' }, input: 'image' },
    t2a: {
      target: { generate: 'audio' },
      input: 'prompt',
      prompt: 'C4 E4 G4',
      examples: ['C4 E4 G4', 'G4 E4 C4', 'C5 A4 F4'],
    },
    transcribe: { target: { generate: 'text' }, input: 'audio' },
    // Blanks inside given text: the parts come from the prompt (see infillParts).
    infill: {
      input: 'prompt',
      infill: true,
      prompt: 'The cat [___] on the mat, and the dog [___] in the sun.',
      examples: [
        'The cat [___] on the mat, and the dog [___] in the sun.',
        'The capital of France is [___] and the capital of Italy is [___].',
        'def add(a, b):\n    return [___]',
      ],
    },
  };
  const ALIASES = {
    'text-to-image': 't2i',
    image: 't2i',
    'text-to-audio': 't2a',
    audio: 't2a',
    transcription: 'transcribe',
    captioning: 'caption',
    blanks: 'infill',
  };
  /** URL parameter → form field, for sharing a run and for taking one from the URL. */
  const FIELDS = {
    policy: 'policy',
    threshold: 'threshold',
    refine: 'refine',
    fraction: 'fraction',
    steps: 'steps',
    block_length: 'block-length',
    temperature: 'temperature',
    seed: 'seed',
    blank: 'blank-tokens',
  };
  /** A blank in the Infill task's text: `[___]` or three or more underscores. */
  const BLANK = /\[_+\]|_{3,}/g;
  const NO_INFILL = 'this model was not trained for infilling; text models such as LLaDA can';

  /**
   * Infill examples for a Tessera world model trained on fill tasks (GET /v1/models says
   * "world" and "infill"): its templates, each with the blank width it was trained on.
   */
  const WORLD_INFILL = [
    ['123+[___]=168', 3],
    ['[___]+45=168', 3],
    ['sort 5 3 9 1 = 1 [___] 5 [___]', 1],
  ];
  /** The served model (GET /v1/models): its id and whether it fills blanks. */
  const model = { id: null, infill: false, why: 'asking the server what this model can do…' };

  /** A problem with what the user asked, shown on the page (not a page error). */
  class UserError extends Error {}

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // ---- the form ---------------------------------------------------------------------

  const prompts = {};
  for (const [name, task] of Object.entries(TASKS)) prompts[name] = task.prompt || '';
  const media = { image: null, audio: null };
  let currentTask = 'text';

  function selectTask(name) {
    if (!TASKS[name] || (TASKS[name].infill && !model.infill)) return;
    if (TASKS[currentTask].input === 'prompt') prompts[currentTask] = $('prompt').value;
    currentTask = name;
    const task = TASKS[name];
    for (const radio of document.querySelectorAll('input[name=task]')) {
      radio.checked = radio.value === name;
    }
    $('prompt-box').hidden = task.input !== 'prompt';
    $('image-box').hidden = task.input !== 'image';
    $('audio-box').hidden = task.input !== 'audio';
    $('blank-box').hidden = !task.infill;
    const label = $('prompt-box').querySelector('label');
    label.textContent = task.infill ? 'Text with blanks' : 'Prompt';
    if (task.input === 'prompt') $('prompt').value = prompts[name];
    const chips = $('examples');
    chips.replaceChildren();
    for (const example of task.examples || []) {
      const chip = document.createElement('button');
      chip.type = 'button';
      chip.className = 'chip';
      chip.textContent = example;
      chip.addEventListener('click', () => {
        $('prompt').value = example;
        if (task.widths && task.widths[example]) $('blank-tokens').value = task.widths[example];
      });
      chips.append(chip);
    }
  }

  function number(id) {
    const input = $(id);
    if (input.value.trim() === '') return null;
    const value = Number(input.value);
    if (!Number.isFinite(value) || !input.checkValidity()) {
      const label = input.closest('label');
      const name = label ? label.firstChild.textContent.trim() : id;
      throw new UserError(`${name}: "${input.value}" is not a valid value`);
    }
    return value;
  }

  function options() {
    const o = {};
    const policy = $('policy').value;
    if (policy) o.policy = policy;
    const threshold = number('threshold');
    if (threshold !== null) o.unmask = { rule: 'threshold', value: threshold };
    const rounds = number('refine');
    if (rounds) {
      o.remask = { rule: 'refine', rounds, fraction: number('fraction') ?? 0.25 };
    }
    const steps = number('steps');
    if (steps !== null) o.steps = steps;
    const block = number('block-length');
    if (block !== null) o.block_length = block;
    const temperature = number('temperature');
    if (temperature !== null) o.temperature = temperature;
    o.seed = number('seed') ?? 0;
    return o;
  }

  /**
   * The parts of a text with blanks: [{text: before}, {blank: n}, {text: between}, …]. The
   * server decodes after a prompt, so some text must come before the first blank.
   */
  function infillParts(text, n) {
    const parts = [];
    let at = 0;
    for (const m of text.matchAll(BLANK)) {
      if (m.index > at) parts.push({ text: text.slice(at, m.index) });
      parts.push({ blank: n });
      at = m.index + m[0].length;
    }
    if (at < text.length) parts.push({ text: text.slice(at) });
    if (!parts.some((p) => p.blank)) {
      throw new UserError('Mark at least one blank with [___] in the text.');
    }
    if (parts[0].blank) {
      throw new UserError(
        'Write some text before the first blank (infilling decodes after a prompt).',
      );
    }
    return parts;
  }

  function buildRequest() {
    const task = TASKS[currentTask];
    const parts = [];
    if (task.infill) {
      const text = $('prompt').value.trim();
      if (!text) throw new UserError('Type a text with blanks first.');
      parts.push(...infillParts(text, number('blank-tokens') ?? 4));
      return { parts, options: options(), stream: true };
    }
    if (task.input === 'prompt') {
      const text = $('prompt').value.trim();
      if (!text) throw new UserError('Type a prompt first.');
      parts.push({ text });
    } else if (task.input === 'image') {
      if (!media.image) throw new UserError('Upload or draw a picture first.');
      parts.push({ image: media.image });
    } else {
      if (!media.audio) throw new UserError('Upload a WAV or synthesise a tune first.');
      parts.push({ audio: media.audio });
    }
    parts.push({ ...task.target });
    return { parts, options: options(), stream: true };
  }

  /** The request as JSON, base64 media shortened. */
  function shown(request) {
    return JSON.stringify(
      request,
      (key, value) =>
        typeof value === 'string' && value.length > 96
          ? `${value.slice(0, 32)}… (${value.length} characters)`
          : value,
      2,
    );
  }

  /** The current form as URL parameters (to share or bookmark a run). */
  function shareUrl() {
    const q = new URLSearchParams();
    q.set('task', currentTask);
    if (TASKS[currentTask].input === 'prompt') q.set('prompt', $('prompt').value.trim());
    for (const [key, id] of Object.entries(FIELDS)) {
      const value = $(id).value.trim();
      if (value !== '' && value !== $(id).defaultValue) q.set(key, value);
    }
    return `${location.pathname}?${q}`;
  }

  // ---- sample media: the worlds' own pictures and tunes, drawn here ------------------

  const SIDES = { small: 16, large: 28 };
  const CENTRES = {
    'top left': [16, 16],
    'top right': [48, 16],
    'bottom left': [16, 48],
    'bottom right': [48, 48],
    center: [32, 32],
  };
  const COLOURS = {
    red: [255, 0, 0],
    green: [0, 255, 0],
    blue: [0, 0, 255],
    yellow: [255, 255, 0],
    magenta: [255, 0, 255],
    cyan: [0, 255, 255],
    white: [255, 255, 255],
  };

  /** The shapes world's pixel rule (worlds/src/shapes/render.rs), exact, in integers. */
  function covers(shape, s, cx, cy, x, y) {
    const x0 = cx - s / 2;
    const y0 = cy - s / 2;
    if (x < x0 || x >= x0 + s || y < y0 || y >= y0 + s) return false;
    const px = 2 * x + 1;
    const py = 2 * y + 1;
    if (shape === 'square') return true;
    if (shape === 'circle') {
      const dx = px - 2 * cx;
      const dy = py - 2 * cy;
      return dx * dx + dy * dy <= s * s;
    }
    const apex = [2 * cx, 2 * y0];
    const left = [2 * x0, 2 * (y0 + s)];
    const right = [2 * (x0 + s), 2 * (y0 + s)];
    const edge = (u, v) => (v[0] - u[0]) * (py - u[1]) - (v[1] - u[1]) * (px - u[0]);
    const e = [edge(apex, left), edge(left, right), edge(right, apex)];
    return e.every((v) => v >= 0) || e.every((v) => v <= 0);
  }

  /** A 64×64 PNG (data URL) of "a SIZE COLOUR SHAPE at the POSITION". */
  function drawPicture(size, colour, shape, position) {
    const canvas = document.createElement('canvas');
    canvas.width = 64;
    canvas.height = 64;
    const context = canvas.getContext('2d');
    const pixels = context.createImageData(64, 64);
    const [cx, cy] = CENTRES[position];
    const rgb = COLOURS[colour];
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < 64; x++) {
        const lit = covers(shape, SIDES[size], cx, cy, x, y);
        const at = 4 * (64 * y + x);
        for (let c = 0; c < 3; c++) pixels.data[at + c] = lit ? rgb[c] : 0;
        pixels.data[at + 3] = 255;
      }
    }
    context.putImageData(pixels, 0, 0);
    return canvas.toDataURL('image/png');
  }

  const MIDI = { C4: 60, D4: 62, E4: 64, F4: 65, G4: 67, A4: 69, B4: 71, C5: 72 };

  /** A 16 kHz mono 16-bit WAV (data URL) of the tones world's tune (worlds/src/tones). */
  function synthesise(tune) {
    const notes = tune.trim().split(/\s+/);
    if (notes.length === 0 || notes.some((n) => !(n in MIDI))) {
      throw new UserError(`"${tune}": give notes from C4 D4 E4 F4 G4 A4 B4 C5, e.g. "C4 E4 G4".`);
    }
    const per = 4000;
    const samples = notes.length * per;
    const bytes = new DataView(new ArrayBuffer(44 + 2 * samples));
    const ascii = (at, s) => [...s].forEach((ch, i) => bytes.setUint8(at + i, ch.charCodeAt(0)));
    ascii(0, 'RIFF');
    bytes.setUint32(4, 36 + 2 * samples, true);
    ascii(8, 'WAVEfmt ');
    bytes.setUint32(16, 16, true);
    bytes.setUint16(20, 1, true);
    bytes.setUint16(22, 1, true);
    bytes.setUint32(24, 16000, true);
    bytes.setUint32(28, 32000, true);
    bytes.setUint16(32, 2, true);
    bytes.setUint16(34, 16, true);
    ascii(36, 'data');
    bytes.setUint32(40, 2 * samples, true);
    notes.forEach((note, k) => {
      const step = (2 * Math.PI * 440 * 2 ** ((MIDI[note] - 69) / 12)) / 16000;
      for (let i = 0; i < per; i++) {
        const gain = Math.min(1, i / 160, (per - 1 - i) / 160);
        const v = 0.5 * Math.sin(step * i) * gain;
        bytes.setInt16(44 + 2 * (k * per + i), Math.round(v * 32767), true);
      }
    });
    let binary = '';
    const raw = new Uint8Array(bytes.buffer);
    for (let i = 0; i < raw.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, raw.subarray(i, i + 0x8000));
    }
    return `data:audio/wav;base64,${btoa(binary)}`;
  }

  function readFile(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(new UserError(`cannot read ${file.name}`));
      reader.readAsDataURL(file);
    });
  }

  function setImage(dataUrl) {
    media.image = dataUrl;
    $('image-input').src = dataUrl;
    $('image-input').hidden = false;
  }

  function setAudio(dataUrl) {
    media.audio = dataUrl;
    $('audio-input').src = dataUrl;
    $('audio-input').hidden = false;
  }

  function drawFromForm() {
    setImage(
      drawPicture(
        $('draw-size').value,
        $('draw-colour').value,
        $('draw-shape').value,
        $('draw-position').value,
      ),
    );
  }

  /** Sets the draw form from a caption "a SIZE COLOUR SHAPE at the POSITION"; false if not one. */
  function drawCaption(caption) {
    const m = /^a (small|large) (\w+) (circle|square|triangle) at the (.+)$/.exec(caption.trim());
    if (!m || !(m[2] in COLOURS) || !(m[4] in CENTRES)) return false;
    [$('draw-size').value, $('draw-colour').value, $('draw-shape').value] = [m[1], m[2], m[3]];
    $('draw-position').value = m[4];
    return true;
  }

  // ---- the live view ----------------------------------------------------------------

  /** One cell per generated position, from the steps' committed and re-masked positions. */
  const canvas = {
    cells: new Map(),
    min: Infinity,
    max: -Infinity,
    square: false,
    // Infilling: positions never committed between the blanks are the given text (known
    // once the answer is in; until then they look masked).
    given: false,
    reset(square) {
      this.cells.clear();
      this.min = Infinity;
      this.max = -Infinity;
      this.square = square;
      this.given = false;
      $('grid').replaceChildren();
    },
    cell(position) {
      let c = this.cells.get(position);
      if (!c) {
        c = { token: null, confidence: 0, mark: '', was: null };
        this.cells.set(position, c);
        this.min = Math.min(this.min, position);
        this.max = Math.max(this.max, position);
      }
      return c;
    },
    /** Applies a step; answers its counts. */
    apply(step) {
      for (const c of this.cells.values()) c.mark = '';
      const counts = { committed: 0, remasked: 0, revised: 0 };
      for (const r of step.remasked || []) {
        if (r.row !== 0) continue;
        const c = this.cell(r.position);
        c.was = c.token;
        c.token = null;
        c.mark = 'remasked';
        counts.remasked += 1;
      }
      for (const t of step.committed || []) {
        if (t.row !== 0) continue;
        const c = this.cell(t.position);
        if (c.mark === 'remasked') {
          c.mark = c.was === t.token ? 'kept' : 'revised';
        } else if (c.token !== null && c.token !== t.token) {
          c.was = c.token;
          c.mark = 'revised';
        } else {
          c.mark = 'new';
        }
        if (c.mark === 'revised') counts.revised += 1;
        c.token = t.token;
        c.confidence = t.confidence;
        counts.committed += 1;
      }
      this.render();
      return counts;
    },
    /** The answer's ids, when they cover the positions seen. */
    finish(ids) {
      if (this.max - this.min + 1 !== ids.length) return;
      ids.forEach((id, i) => {
        const c = this.cell(this.min + i);
        c.token = id;
      });
      this.render();
    },
    render() {
      if (this.max < this.min) return;
      const grid = $('grid');
      const n = this.max - this.min + 1;
      while (grid.children.length < n) {
        const span = document.createElement('span');
        grid.append(span);
      }
      while (grid.children.length > n) grid.lastChild.remove();
      const side = Math.round(Math.sqrt(n));
      grid.classList.toggle('square', this.square && side * side === n);
      grid.style.setProperty('--side', String(side));
      for (let i = 0; i < n; i++) {
        const position = this.min + i;
        const span = grid.children[i];
        if (this.given && !this.cells.has(position)) {
          span.className = 'cell given';
          span.textContent = '·';
          span.style.removeProperty('--confidence');
          span.title = `position ${position}: given text`;
          continue;
        }
        const c = this.cells.get(position) || { token: null, confidence: 0, mark: '' };
        const masked = c.token === null;
        span.className = `cell${masked ? ' masked' : ''}${c.mark ? ` ${c.mark}` : ''}`;
        span.textContent = masked ? MASK : String(c.token);
        span.style.setProperty('--confidence', masked ? '0' : c.confidence.toFixed(3));
        let title = `position ${position}: `;
        title += masked ? 'masked' : `token ${c.token}, confidence ${c.confidence.toFixed(3)}`;
        if (c.mark === 'remasked') title += ` (re-masked, was ${c.was})`;
        if (c.mark === 'revised') title += ` (revised, was ${c.was})`;
        if (c.mark === 'kept') title += ' (re-masked and predicted the same again)';
        span.title = title;
      }
    },
  };

  /**
   * How `cur` differs from `prev`, character by character: the common prefix and suffix
   * stay, and the middle is aligned so that a mask may become any character (a commit,
   * free) while everything else costs one; ties put insertions late. Each character of `cur`
   * comes back as {ch, kind, was}, kind one of same, new, revised, remasked.
   */
  function diff(prev, cur) {
    const a = Array.from(prev);
    const b = Array.from(cur);
    let head = 0;
    while (head < a.length && head < b.length && a[head] === b[head]) head += 1;
    let tail = 0;
    while (
      tail < a.length - head &&
      tail < b.length - head &&
      a[a.length - 1 - tail] === b[b.length - 1 - tail]
    ) {
      tail += 1;
    }
    const same = (ch) => ({ ch, kind: 'same', was: ch });
    const x = a.slice(head, a.length - tail);
    const y = b.slice(head, b.length - tail);
    return [...b.slice(0, head).map(same), ...align(x, y), ...b.slice(b.length - tail).map(same)];
  }

  function align(a, b) {
    const n = a.length;
    const m = b.length;
    if ((n + 1) * (m + 1) > 400000) {
      return b.map((ch, i) => ({ ch, kind: ch === a[i] ? 'same' : 'new', was: a[i] }));
    }
    const sub = (x, y) => (x === y || (x === MASK && y !== MASK) ? 0 : 1);
    const cost = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = 0; i <= n; i++) cost[i][0] = i;
    for (let j = 0; j <= m; j++) cost[0][j] = j;
    for (let i = 1; i <= n; i++) {
      for (let j = 1; j <= m; j++) {
        cost[i][j] = Math.min(
          cost[i - 1][j - 1] + sub(a[i - 1], b[j - 1]),
          cost[i - 1][j] + 1,
          cost[i][j - 1] + 1,
        );
      }
    }
    const out = [];
    let i = n;
    let j = m;
    while (j > 0) {
      if (i === 0 || cost[i][j] === cost[i][j - 1] + 1) {
        out.push({ ch: b[j - 1], kind: b[j - 1] === MASK ? 'same' : 'new', was: null });
        j -= 1;
      } else if (cost[i][j] === cost[i - 1][j - 1] + sub(a[i - 1], b[j - 1])) {
        const was = a[i - 1];
        const ch = b[j - 1];
        let kind = 'same';
        if (was === MASK && ch !== MASK) kind = 'new';
        else if (was !== MASK && ch === MASK) kind = 'remasked';
        else if (was !== ch) kind = 'revised';
        out.push({ ch, kind, was });
        i -= 1;
        j -= 1;
      } else {
        i -= 1;
      }
    }
    return out.reverse();
  }

  let previousText = '';

  function showText(text) {
    const view = $('text-view');
    view.replaceChildren();
    let plain = '';
    const flush = () => {
      if (plain) view.append(plain);
      plain = '';
    };
    for (const { ch, kind, was } of diff(previousText, text)) {
      if (kind === 'same' && ch !== MASK) {
        plain += ch;
        continue;
      }
      flush();
      const span = document.createElement('span');
      if (kind === 'same') {
        span.className = 'mask';
        span.textContent = ch;
      } else if (kind === 'remasked') {
        span.className = 'remasked';
        span.title = `re-masked (was “${was}”)`;
        const old = document.createElement('s');
        old.textContent = was;
        span.append(MASK, old);
      } else {
        span.className = kind;
        span.textContent = ch;
        if (kind === 'revised') span.title = `revised (was “${was}”)`;
      }
      view.append(span);
    }
    flush();
    previousText = text;
    $('text-panel').hidden = false;
  }

  let steps = 0;
  let started = 0;
  let firstStep = 0;
  /** An infill run's parts (its text and blanks), else null. */
  let infill = null;

  /** The given text before the first blank: the step previews start at that blank. */
  const beforeBlanks = (parts) => {
    const first = parts.findIndex((p) => p.blank);
    return parts
      .slice(0, first)
      .map((p) => p.text)
      .join('');
  };

  function setState(state) {
    body.dataset.state = state;
  }

  function onStep(step) {
    steps += 1;
    if (steps === 1) firstStep = performance.now() - started;
    body.dataset.steps = String(steps);
    const total = Math.max(step.total_steps, step.step, 1);
    $('bar-fill').style.width = `${(100 * step.step) / total}%`;
    const counts = canvas.apply(step);
    $('canvas-panel').hidden = false;
    let label = `step ${step.step} / ${step.total_steps} · ${counts.committed} committed`;
    if (counts.remasked) label += ` · ${counts.remasked} re-masked`;
    if (counts.revised) label += ` · ${counts.revised} revised`;
    $('step-label').textContent = label;
    if (typeof step.text === 'string') {
      showText(infill ? beforeBlanks(infill) + step.text : step.text);
    }
    if (step.image) {
      $('preview').src = `data:image/png;base64,${step.image}`;
      $('image-panel').hidden = false;
    }
  }

  const fixed = (v, digits) => (typeof v === 'number' ? v.toFixed(digits) : '–');

  /**
   * The text with its blanks filled (the answer has a part per blank), each fill a
   * highlighted <mark>; answers the text as a string.
   */
  function showFilled(parts, fills) {
    const out = $('output-text');
    out.replaceChildren();
    let whole = '';
    let k = 0;
    for (const part of parts) {
      if (!part.blank) {
        out.append(part.text);
        whole += part.text;
        continue;
      }
      const fill = fills[k] || {};
      k += 1;
      const text = typeof fill.text === 'string' ? fill.text : JSON.stringify(fill);
      const mark = document.createElement('mark');
      mark.className = text ? 'filled' : 'filled empty';
      mark.title = `blank ${k}: ${part.blank} tokens`;
      if (!text) mark.title += ', all special (nothing to show)';
      mark.textContent = text;
      out.append(mark);
      whole += text;
    }
    return whole;
  }

  /** The answer's parts: text, a picture (with its preview), a sound, or JSON. */
  function showParts(parts) {
    for (const part of parts) {
      if (typeof part.text === 'string') {
        $('output-text').textContent = part.text;
        if (!$('text-panel').hidden && part.text !== previousText) showText(part.text);
      } else if (part.image) {
        $('output-image').src = `data:${part.mime || 'image/png'};base64,${part.image}`;
        $('output-image').hidden = false;
        $('caption-it').hidden = false;
        if ($('image-panel').hidden || !$('preview').src) {
          $('preview').src = $('output-image').src;
          $('image-panel').hidden = false;
        }
      } else if (part.audio) {
        $('output-audio').src = `data:${part.mime || 'audio/wav'};base64,${part.audio}`;
        $('output-audio').hidden = false;
        $('transcribe-it').hidden = false;
      } else {
        $('output-other').textContent = JSON.stringify(part);
        $('output-other').hidden = false;
      }
    }
  }

  function onDone(answer) {
    const wall = (performance.now() - started) / 1000;
    if (infill) {
      const whole = showFilled(infill, answer.parts || []);
      if (!$('text-panel').hidden && whole !== previousText) showText(whole);
      canvas.given = true;
      canvas.render();
    } else {
      showParts(answer.parts || []);
    }
    $('output').hidden = false;
    if (Array.isArray(answer.ids)) canvas.finish(answer.ids);
    const s = answer.stats || {};
    const rows = [
      ['NFE', s.nfe],
      ['decode seconds', fixed(s.seconds, 3)],
      ['tokens / s', fixed(s.tokens_per_second, 1)],
      ['tokens / forward', fixed(s.tokens_per_forward, 2)],
      ['revised', s.revised],
      ['steps streamed', steps],
      ['first step after', `${fixed(firstStep / 1000, 3)} s`],
      ['round trip', `${fixed(wall, 3)} s`],
    ];
    const stats = $('stats');
    stats.replaceChildren();
    for (const [name, value] of rows) {
      const dt = document.createElement('dt');
      dt.textContent = name;
      const dd = document.createElement('dd');
      dd.textContent = value === undefined ? '–' : String(value);
      const pair = document.createElement('div');
      pair.append(dt, dd);
      stats.append(pair);
    }
    stats.hidden = false;
    $('bar-fill').style.width = '100%';
    $('step-label').textContent += ' · done';
    body.dataset.done = '1';
    setState('done');
  }

  /** Shows the server's error ({"error": {"message", "type", "param", "code"}}) or `text`. */
  function showError(error, status) {
    const box = $('error');
    box.replaceChildren();
    if (typeof error === 'string') {
      box.textContent = error;
    } else {
      const e = (error && error.error) || {};
      const head = document.createElement('strong');
      head.textContent = `${e.code || status || 'error'} ${e.type || ''}`.trim();
      box.append(head);
      if (e.param) {
        const param = document.createElement('code');
        param.textContent = e.param;
        box.append(' ', param);
      }
      box.append(`: ${e.message || JSON.stringify(error)}`);
    }
    box.hidden = false;
    setState('error');
  }

  async function httpError(response) {
    const text = await response.text();
    try {
      showError(JSON.parse(text), response.status);
    } catch {
      showError(`${response.status} ${response.statusText}: ${text.slice(0, 500)}`);
    }
  }

  /** Server-sent events of a streamed body: {event, data} at each blank line. */
  async function* sse(stream) {
    const reader = stream.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let event = 'message';
    let data = [];
    const line = function* (text) {
      if (text === '') {
        if (data.length) yield { event, data: data.join('\n') };
        event = 'message';
        data = [];
        return;
      }
      if (text.startsWith(':')) return;
      const colon = text.indexOf(':');
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? '' : text.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n')) >= 0) {
          const text = buffer.slice(0, end).replace(/\r$/, '');
          buffer = buffer.slice(end + 1);
          yield* line(text);
        }
        if (done) {
          if (buffer) yield* line(buffer.replace(/\r$/, ''));
          yield* line('');
          return;
        }
      }
    } finally {
      reader.releaseLock();
    }
  }

  let controller = null;

  function resetView() {
    steps = 0;
    previousText = '';
    body.dataset.steps = '0';
    body.dataset.done = '0';
    for (const id of ['error', 'text-panel', 'image-panel', 'canvas-panel', 'output', 'stats']) {
      $(id).hidden = true;
    }
    for (const id of ['output-image', 'output-audio', 'output-other', 'caption-it', 'transcribe-it']) {
      $(id).hidden = true;
    }
    $('output-text').textContent = '';
    $('output-other').textContent = '';
    $('text-view').replaceChildren();
    $('preview').removeAttribute('src');
    $('output-image').removeAttribute('src');
    $('output-audio').removeAttribute('src');
    $('bar-fill').style.width = '0';
    $('step-label').textContent = 'starting…';
    canvas.reset(currentTask === 't2i');
  }

  async function run() {
    if (controller) return;
    let request;
    try {
      request = buildRequest();
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      resetView();
      $('step-label').textContent = 'idle';
      showError(e.message);
      return;
    }
    resetView();
    infill = TASKS[currentTask].infill ? request.parts : null;
    $('request').textContent = shown(request);
    history.replaceState(null, '', shareUrl());
    setState('running');
    controller = new AbortController();
    $('run').disabled = true;
    $('stop').disabled = false;
    started = performance.now();
    try {
      const response = await fetch('/v1/generate', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify(request),
        signal: controller.signal,
      });
      if (!response.ok) {
        await httpError(response);
        return;
      }
      // Headless Chrome's virtual time (--virtual-time-budget, as tests use) waits for a body
      // read at once but not for a streamed one: a clone read to its end holds it until the
      // answer is complete. The page itself draws from the stream.
      response
        .clone()
        .text()
        .catch(() => '');
      let ended = false;
      for await (const { event, data } of sse(response.body)) {
        if (event === 'step') {
          if ($('slow').checked) await sleep(150);
          onStep(JSON.parse(data));
        } else if (event === 'done') {
          onDone(JSON.parse(data));
          ended = true;
        } else if (event === 'error') {
          showError(JSON.parse(data));
          ended = true;
        }
      }
      if (!ended) {
        showError('The stream ended without an answer (past the server’s request timeout?).');
      }
    } catch (e) {
      if (e && e.name === 'AbortError') {
        $('step-label').textContent += ' · stopped';
        setState('stopped');
      } else if (e instanceof TypeError) {
        showError(`The request failed: ${e.message} (is the server still running?)`);
      } else {
        throw e;
      }
    } finally {
      controller = null;
      $('run').disabled = false;
      $('stop').disabled = true;
    }
  }

  // ---- wiring -----------------------------------------------------------------------

  for (const radio of document.querySelectorAll('input[name=task]')) {
    radio.addEventListener('change', () => selectTask(radio.value));
  }
  $('form').addEventListener('submit', (e) => {
    e.preventDefault();
    run();
  });
  $('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      run();
    }
  });
  $('stop').addEventListener('click', () => controller && controller.abort());
  $('draw').addEventListener('click', drawFromForm);
  $('synth').addEventListener('click', () => {
    try {
      setAudio(synthesise($('tune').value));
      $('error').hidden = true;
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      showError(e.message);
    }
  });
  const upload = (input, set) =>
    input.addEventListener('change', () => {
      const file = input.files && input.files[0];
      if (!file) return;
      readFile(file).then(set, (e) => showError(e.message));
    });
  upload($('image-file'), setImage);
  upload($('audio-file'), setAudio);
  /** "Caption this picture", "Transcribe this audio": the output, fed to the next task. */
  const chain = (button, output, set, task) =>
    $(button).addEventListener('click', () => {
      set($(output).src);
      selectTask(task);
      run();
    });
  chain('caption-it', 'output-image', setImage, 'caption');
  chain('transcribe-it', 'output-audio', setAudio, 'transcribe');

  /** Offers the Infill task when the model fills blanks, else says why not. */
  function offerInfill(can, why) {
    model.infill = can;
    model.why = why;
    $('task-infill').disabled = !can;
    $('infill-label').classList.toggle('disabled', !can);
    $('infill-label').title = can
      ? 'Write text with [___] blanks; the model fills each, seeing the text on both sides'
      : `Not available: ${why}`;
    $('infill-note').textContent = can ? '(fill [___] blanks)' : '(text models only)';
  }

  /** The served model from GET /v1/models: its name and what it can do. */
  async function learnModel() {
    try {
      const response = await fetch('/v1/models');
      const list = response.ok ? await response.json() : {};
      const entry = (list.data && list.data[0]) || {};
      model.id = entry.id || null;
      $('model-name').textContent = model.id || 'unknown';
      if (entry.world === true && entry.infill === true) {
        // A world model fills its training templates: their examples and blank widths.
        const task = TASKS.infill;
        task.examples = WORLD_INFILL.map(([text]) => text);
        task.widths = Object.fromEntries(WORLD_INFILL);
        task.prompt = prompts.infill = WORLD_INFILL[0][0];
        $('blank-tokens').value = WORLD_INFILL[0][1];
      }
      offerInfill(entry.infill === true, NO_INFILL);
    } catch {
      $('model-name').textContent = 'unreachable';
      offerInfill(false, 'the server did not say what this model can do');
    }
  }

  /**
   * The form from the URL: task, prompt, options (FIELDS), sample; autorun=1 runs at once.
   * Runs once the model is known (whether it fills blanks decides the Infill task).
   */
  function fromUrl() {
    const q = new URLSearchParams(location.search);
    let task = q.get('task') || 'text';
    task = ALIASES[task] || task;
    if (!TASKS[task]) {
      showError(`Unknown task “${task}” (text, t2i, caption, t2a, transcribe, infill).`);
      task = 'text';
    } else if (TASKS[task].infill && !model.infill) {
      showError(`Infill is not available: ${model.why}.`);
      task = 'text';
    }
    selectTask(task);
    if (q.has('prompt') && TASKS[task].input === 'prompt') $('prompt').value = q.get('prompt');
    for (const [key, id] of Object.entries(FIELDS)) {
      if (q.has(key)) $(id).value = q.get(key);
    }
    if (q.get('slow') === '1') $('slow').checked = true;
    const sample = q.get('sample');
    if (sample !== null) {
      if (task === 'caption') {
        if (sample !== '1' && !drawCaption(sample)) {
          showError(`sample: “${sample}” is not a picture of the shapes world.`);
        }
        drawFromForm();
      } else if (task === 'transcribe') {
        if (sample !== '1') $('tune').value = sample;
        $('synth').click();
      }
    }
    if (q.get('autorun') === '1' && body.dataset.state !== 'error') run();
  }

  learnModel().then(fromUrl);
})();
