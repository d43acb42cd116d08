// digitnet's reading in the browser: preprocess.py's to_mnist for a drawing of the page's canvas and
// classifier.py's predict_proba, step for step, in plain JavaScript. Its constants and its words come
// from Python (digitnet/reading/web.py), its weights from the model's browser file (web.browser_weights).
// Each function names the Python one it does the same as; tests/test_engine.py holds the two together.
(function (root) {
  "use strict";

  const f32 = Math.fround;

  // Python's round(): halves go to the even neighbour.
  function roundHalfEven(x) {
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
  }

  class Refused extends Error {
    constructor(kind, message) {
      super(message);
      this.kind = kind; // "empty": nothing drawn yet; "blank": a mark that is not a digit
    }
  }

  // An image: {data: Float32Array of h * w, h, w}.
  const image = (h, w) => ({data: new Float32Array(h * w), h, w});

  function createEngine(C) {
    // _scaled_ink: the ink scaled so its strongest is 1, the noise floor dropped.
    function scaledInk(img, pixels) {
      let strongest = 0;
      for (const v of img.data) if (v > strongest) strongest = v;
      if (strongest < C.MIN_CONTRAST) throw new Refused("empty", C.BLANK);
      const gain = f32(1 / (strongest * (1 - C.SCREEN_NOISE_FLOOR)));
      const floor = f32(C.SCREEN_NOISE_FLOOR / (1 - C.SCREEN_NOISE_FLOOR));
      let inked = 0;
      for (let i = 0; i < img.data.length; i++) {
        const v = Math.min(Math.max(f32(f32(img.data[i] * gain) - floor), 0), 1);
        img.data[i] = v;
        if (v > 0.5) inked++;
      }
      if (inked < Math.max(2, C.MIN_INK_FRACTION * pixels)) throw new Refused("blank", C.NO_INK);
      return img;
    }

    // _canvas_ink, and ink_map's reading of an opaque drawing on a dark background: each pixel's
    // distance from the background's colour (the median of the border's), scaled. Like _canvas_ink, only
    // the box where the drawing differs from its background is measured: a frame's reading is a few ms.
    function canvasInk(rgba, w, h) {
      for (let i = 3; i < rgba.length; i += 4) if (rgba[i] < 0.99 * 255) return null; // see-through: not the canvas
      const background = borderMedian(rgba, w, h);
      const luminance = f32(0.299 * f32(background[0] / 255) + 0.587 * f32(background[1] / 255) +
                            0.114 * f32(background[2] / 255));
      if (luminance >= 0.5) return null; // dark ink on paper: the server reads it
      let top = h, bottom = -1, left = w, right = -1;
      for (let y = 0, p = 0; y < h; y++) {
        for (let x = 0; x < w; x++, p += 4) {
          if (rgba[p] !== background[0] || rgba[p + 1] !== background[1] || rgba[p + 2] !== background[2]) {
            if (y < top) top = y;
            bottom = y;
            if (x < left) left = x;
            if (x > right) right = x;
          }
        }
      }
      if (bottom < 0) throw new Refused("empty", C.BLANK);
      const ink = image(bottom - top + 1, right - left + 1);
      const scale = f32(1 / (3 * 255 * 255));
      for (let y = 0; y < ink.h; y++) {
        for (let x = 0, p = ((top + y) * w + left) * 4; x < ink.w; x++, p += 4) {
          const r = rgba[p] - background[0], g = rgba[p + 1] - background[1], b = rgba[p + 2] - background[2];
          ink.data[y * ink.w + x] = Math.sqrt(f32(f32(r * r + g * g + b * b) * scale));
        }
      }
      return scaledInk(ink, w * h);
    }

    // np.median of each channel over the image's outermost frame (its corners counted twice, as _border does).
    function borderMedian(rgba, w, h) {
      const median = values => {
        values.sort((a, b) => a - b);
        const n = values.length;
        return n % 2 ? values[(n - 1) / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
      };
      return [0, 1, 2].map(c => {
        const values = [];
        for (let x = 0; x < w; x++) values.push(rgba[x * 4 + c], rgba[((h - 1) * w + x) * 4 + c]);
        for (let y = 0; y < h; y++) values.push(rgba[y * w * 4 + c], rgba[(y * w + w - 1) * 4 + c]);
        return median(values);
      });
    }

    function cropToInk(img) {
      let top = img.h, bottom = -1, left = img.w, right = -1;
      for (let y = 0; y < img.h; y++) {
        for (let x = 0; x < img.w; x++) {
          if (img.data[y * img.w + x] > 0) {
            if (y < top) top = y;
            bottom = y;
            if (x < left) left = x;
            if (x > right) right = x;
          }
        }
      }
      const out = image(bottom - top + 1, right - left + 1);
      for (let y = 0; y < out.h; y++) {
        out.data.set(img.data.subarray((top + y) * img.w + left, (top + y) * img.w + right + 1), y * out.w);
      }
      return out;
    }

    // Pillow's Lanczos resampling of a float image (Resample.c: precompute_coeffs, then a horizontal
    // pass and a vertical one, each summed in double precision and stored as float).
    function lanczos(x) {
      const sinc = t => (t === 0 ? 1 : Math.sin(t * Math.PI) / (t * Math.PI));
      return -3 <= x && x < 3 ? sinc(x) * sinc(x / 3) : 0;
    }

    function coefficients(inSize, outSize) {
      const scale = inSize / outSize;
      const filterScale = Math.max(scale, 1);
      const support = 3 * filterScale;
      const taps = [];
      for (let xx = 0; xx < outSize; xx++) {
        const centre = (xx + 0.5) * scale;
        const first = Math.max(Math.trunc(centre - support + 0.5), 0);
        const last = Math.min(Math.trunc(centre + support + 0.5), inSize);
        const weights = [];
        let total = 0;
        for (let x = first; x < last; x++) {
          const weight = lanczos((x - centre + 0.5) * (1 / filterScale));
          weights.push(weight);
          total += weight;
        }
        taps.push({first, weights: weights.map(weight => (total !== 0 ? weight / total : weight))});
      }
      return taps;
    }

    function resize(img, w, h) {
      let src = img;
      if (w !== src.w) {
        const taps = coefficients(src.w, w), out = image(src.h, w);
        for (let y = 0; y < src.h; y++) {
          for (let xx = 0; xx < w; xx++) {
            const {first, weights} = taps[xx];
            let sum = 0;
            for (let k = 0; k < weights.length; k++) sum += src.data[y * src.w + first + k] * weights[k];
            out.data[y * w + xx] = sum;
          }
        }
        src = out;
      }
      if (h !== src.h) {
        const taps = coefficients(src.h, h), out = image(h, src.w);
        for (let yy = 0; yy < h; yy++) {
          const {first, weights} = taps[yy];
          for (let x = 0; x < src.w; x++) {
            let sum = 0;
            for (let k = 0; k < weights.length; k++) sum += src.data[(first + k) * src.w + x] * weights[k];
            out.data[yy * src.w + x] = sum;
          }
        }
        src = out;
      }
      return src === img ? {data: img.data.slice(), h: img.h, w: img.w} : src;
    }

    // _resize_long_side
    function resizeLongSide(img, side) {
      const scale = side / Math.max(img.h, img.w);
      const out = resize(img, Math.max(1, roundHalfEven(img.w * scale)), Math.max(1, roundHalfEven(img.h * scale)));
      for (let i = 0; i < out.data.length; i++) out.data[i] = Math.min(Math.max(out.data[i], 0), 1);
      return out;
    }

    // stroke_width: twice the inked area over its outline's length.
    function strokeWidth(img) {
      const inked = (y, x) => y >= 0 && y < img.h && x >= 0 && x < img.w && img.data[y * img.w + x] > 0.5;
      let area = 0, interior = 0;
      for (let y = 0; y < img.h; y++) {
        for (let x = 0; x < img.w; x++) {
          if (!inked(y, x)) continue;
          area++;
          if (inked(y - 1, x) && inked(y + 1, x) && inked(y, x - 1) && inked(y, x + 1)) interior++;
        }
      }
      return (2 * area) / Math.max(area - interior, 1);
    }

    // Pillow's MaxFilter(3) or MinFilter(3): the image's edge repeated beyond it.
    function rankFilter(img, pick) {
      const out = image(img.h, img.w);
      const clamp = (v, n) => Math.min(Math.max(v, 0), n - 1);
      for (let y = 0; y < img.h; y++) {
        for (let x = 0; x < img.w; x++) {
          let v = img.data[y * img.w + x];
          for (let dy = -1; dy <= 1; dy++) {
            for (let dx = -1; dx <= 1; dx++) v = pick(v, img.data[clamp(y + dy, img.h) * img.w + clamp(x + dx, img.w)]);
          }
          out.data[y * img.w + x] = v;
        }
      }
      return out;
    }

    // _normalise_stroke
    function normaliseStroke(img, width) {
      const [thinnest, boldest] = C.MNIST_STROKE_RANGE;
      const steps = roundHalfEven((Math.min(Math.max(width, thinnest), boldest) - width) / 2);
      for (let i = 0; i < Math.min(Math.abs(steps), C.MAX_STROKE_STEPS); i++) {
        img = rankFilter(img, steps > 0 ? Math.max : Math.min);
      }
      return img;
    }

    // _fit_in_box
    function fitInBox(img) {
      const digit = resizeLongSide(img, C.BOX);
      let top = 0;
      for (const v of digit.data) if (v > top) top = v;
      const scale = Math.max(top, 1e-6);
      for (let i = 0; i < digit.data.length; i++) digit.data[i] = digit.data[i] / scale;
      return digit;
    }

    // _framed: zeros `rows` deep above and below, `cols` wide on either side.
    function framed(img, rows, cols) {
      const out = image(img.h + 2 * rows, img.w + 2 * cols);
      for (let y = 0; y < img.h; y++) out.data.set(img.data.subarray(y * img.w, (y + 1) * img.w), (y + rows) * out.w + cols);
      return out;
    }

    // Each row's distance below the centre of mass: slants' and _sheared's `below`.
    function below(img) {
      const rowMass = new Float64Array(img.h);
      let mass = 0, moment = 0;
      for (let y = 0; y < img.h; y++) {
        for (let x = 0; x < img.w; x++) rowMass[y] += img.data[y * img.w + x];
        mass += rowMass[y];
        moment += rowMass[y] * y;
      }
      const centre = moment / Math.max(mass, 1e-6);
      return {rowMass, mass, below: Array.from(rowMass, (_, y) => y - centre)};
    }

    // slants: pixels sideways per pixel down, from the ink's second moments.
    function slant(img) {
      const {rowMass, mass, below: down} = below(img);
      let colMoment = 0;
      for (let y = 0; y < img.h; y++) for (let x = 0; x < img.w; x++) colMoment += img.data[y * img.w + x] * x;
      const centreCol = colMoment / Math.max(mass, 1e-6);
      let spread = 0, lean = 0;
      for (let y = 0; y < img.h; y++) {
        spread += rowMass[y] * down[y] ** 2;
        let row = 0;
        for (let x = 0; x < img.w; x++) row += img.data[y * img.w + x] * (x - centreCol);
        lean += row * down[y];
      }
      return lean / Math.max(spread, 1e-6);
    }

    // deskew of one image: its rows moved sideways about its centre of mass until it leans neither way.
    function deskew(img) {
      const s = Math.min(Math.max(slant(img), -C.MAX_SLANT), C.MAX_SLANT);
      const {below: down} = below(img);
      const out = image(img.h, img.w);
      const read = (y, x) => (x >= 0 && x < img.w ? img.data[y * img.w + x] : 0);
      for (let y = 0; y < img.h; y++) {
        for (let x = 0; x < img.w; x++) {
          const source = f32(x + f32(s * down[y]));
          const before = Math.floor(source), weight = source - before;
          out.data[y * img.w + x] = read(y, before) * (1 - weight) + read(y, before + 1) * weight;
        }
      }
      return out;
    }

    // _centre_by_mass: the digit in the 28x28 field, its centre of mass at the centre.
    function centreByMass(digit) {
      let total = 0, rows = 0, cols = 0;
      for (let y = 0; y < digit.h; y++) {
        for (let x = 0; x < digit.w; x++) {
          const v = digit.data[y * digit.w + x];
          total += v;
          rows += v * y;
          cols += v * x;
        }
      }
      const place = (centre, size) => Math.min(Math.max(roundHalfEven(C.FIELD / 2 - 0.5 - centre), 0), C.FIELD - size);
      const top = place(rows / total, digit.h), left = place(cols / total, digit.w);
      const field = image(C.FIELD, C.FIELD);
      for (let y = 0; y < digit.h; y++) {
        field.data.set(digit.data.subarray(y * digit.w, (y + 1) * digit.w), (top + y) * C.FIELD + left);
      }
      return field;
    }

    // to_mnist of a drawing of the canvas: RGBA bytes, w x h. Null when it is not such a drawing
    // (a see-through or light background): the server reads those.
    function toMnist(rgba, w, h) {
      const ink = canvasInk(rgba, w, h);
      if (ink === null) return null;
      let big = resizeLongSide(cropToInk(ink), C.STROKE_SCALE * C.BOX);
      const width = strokeWidth(big);
      if (width > C.MAX_BLOB_WIDTH * Math.max(big.h, big.w)) throw new Refused("blank", C.BLOB);
      big = normaliseStroke(big, width);
      const box = fitInBox(big);
      const margin = Math.ceil((C.MAX_SLANT * box.h) / 2) + 1;
      return centreByMass(fitInBox(cropToInk(deskew(framed(box, 0, margin)))));
    }

    // The model's browser file (web.browser_weights): "DGNW", a little-endian uint32 header length, a
    // JSON header, then for each layer its weights' steps (rows x cols, int8 or int16), float32 scales
    // (cols) and float32 biases (cols), all little-endian.
    function loadWeights(buffer) {
      const bytes = new Uint8Array(buffer);
      if (String.fromCharCode(...bytes.subarray(0, 4)) !== "DGNW") throw new Error("not a digitnet weights file");
      const length = new DataView(buffer).getUint32(4, true);
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
      let offset = 8 + length;
      const layers = header.layers.map(({rows, cols, activation, bits}) => {
        const steps = bits === 16 ? Int16Array : Int8Array;
        const kernel = new steps(buffer.slice(offset, offset + rows * cols * steps.BYTES_PER_ELEMENT));
        offset += rows * cols * steps.BYTES_PER_ELEMENT;
        const scales = new Float32Array(buffer.slice(offset, offset + 4 * cols));
        offset += 4 * cols;
        const bias = new Float32Array(buffer.slice(offset, offset + 4 * cols));
        offset += 4 * cols;
        return {rows, cols, activation, kernel, scales, bias};
      });
      return {layers, fingerprint: header.fingerprint};
    }

    // Classifier.forward: every layer's activations for one input of 784 numbers.
    function forward(weights, input) {
      const activations = [input];
      let h = input;
      for (const {rows, cols, activation, kernel, scales, bias} of weights.layers) {
        const sums = new Float64Array(cols);
        for (let i = 0; i < rows; i++) {
          const v = h[i];
          if (v === 0) continue;
          const row = i * cols;
          for (let j = 0; j < cols; j++) sums[j] += v * kernel[row + j];
        }
        const z = Array.from(sums, (sum, j) => sum * scales[j] + bias[j]);
        if (activation === "relu") h = z.map(v => Math.max(v, 0));
        else if (activation === "softmax") {
          const top = Math.max(...z);
          const e = z.map(v => Math.exp(v - top));
          const total = e.reduce((a, b) => a + b, 0);
          h = e.map(v => v / total);
        } else h = z;
        activations.push(h);
      }
      return activations;
    }

    // upright of one input: deskewed when it leans at least UPRIGHT_SLANT.
    function upright(x) {
      return Math.abs(slant(x)) >= C.UPRIGHT_SLANT ? deskew(x) : x;
    }

    // Classifier._averaged: the probabilities averaged over the input moved by each of SHIFTS
    // (np.roll: what leaves one side comes back on the other). Also the first pass's activations.
    function predict(weights, x) {
      x = upright(x);
      const n = C.FIELD, probabilities = new Array(10).fill(0);
      let unmoved = null;
      for (const [dy, dx] of C.SHIFTS) {
        const moved = new Float32Array(n * n);
        for (let y = 0; y < n; y++) {
          for (let col = 0; col < n; col++) {
            moved[((y + dy + n) % n) * n + ((col + dx + n) % n)] = x.data[y * n + col];
          }
        }
        const activations = forward(weights, moved);
        if (unmoved === null) unmoved = activations;
        activations[activations.length - 1].forEach((p, d) => { probabilities[d] += p / C.SHIFTS.length; });
      }
      return {probabilities, activations: unmoved};
    }

    // A drawing, read: {x (784 numbers), probabilities, activations}, {refused, message} when it is
    // not a digit, or null when this engine does not read such a drawing.
    function read(weights, rgba, w, h) {
      let x;
      try {
        x = toMnist(rgba, w, h);
      } catch (error) {
        if (error instanceof Refused) return {refused: error.kind, message: error.message};
        throw error;
      }
      if (x === null) return null;
      return {x: x.data, ...predict(weights, x)};
    }

    // Prediction.sentence(): the answer in plain words, Python's percentages (halves to even).
    const percent = p => roundHalfEven(p * 100) + "%";
    const aDigit = d => (d === 8 ? "an " : "a ") + d;
    function sentence(p) {
      const [digit, runnerUp] = p.map((v, d) => d).sort((a, b) => p[b] - p[a]);
      if (p[digit] >= C.CONFIDENT) return C.SURE.replace("{confidence}", percent(p[digit])).replace("{digit}", aDigit(digit));
      return C.UNSURE.replace("{digit}", aDigit(digit)).replace("{confidence}", percent(p[digit]))
        .replace("{runner_up}", aDigit(runnerUp)).replace("{runner_up_confidence}", percent(p[runnerUp]));
    }

    return {read, toMnist, predict, loadWeights, sentence, percent};
  }

  root.digitnetEngine = {createEngine};
})(typeof window !== "undefined" ? window : globalThis);
