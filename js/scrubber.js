// The α scrubber: slider value ↔ α, α → the nearest point of the trace, and play/pause stepping.

/** Steps of the α slider (input.aw-alpha is a range 0..SLIDER_MAX). */
export const SLIDER_MAX = 1000;

/** α in [0, 1] for a slider value. */
export function sliderToAlpha(value) {
  const v = Number(value);
  return Number.isFinite(v) ? Math.min(1, Math.max(0, v / SLIDER_MAX)) : 0;
}

/** Slider value for α. */
export function alphaToSlider(alpha) {
  return Math.round(Math.min(1, Math.max(0, alpha)) * SLIDER_MAX);
}

/**
 * Index of the point of `alphas` (sorted ascending) nearest to `alpha`; ties go to the lower one.
 * @param {ArrayLike<number>} alphas
 * @param {number} alpha
 */
export function nearestIndex(alphas, alpha) {
  const n = alphas.length;
  if (n === 0) return -1;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (alphas[mid] < alpha) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && Math.abs(alphas[lo - 1] - alpha) <= Math.abs(alphas[lo] - alpha)) return lo - 1;
  return lo;
}

/**
 * The words beside the α slider: the slider's α and, when the panels show another (the nearest
 * point of the path whose maps were sent), that point too.
 * @param {number} alpha  the slider's α
 * @param {ArrayLike<number>|null} frameAlphas  α of the points with maps, ascending
 * @param {ArrayLike<number>|null} [pathAlphas]  α of every point of the path (what is counted)
 * @returns {{alpha: string, shown: string}}
 */
export function alphaReadout(alpha, frameAlphas, pathAlphas = null) {
  const text = `α = ${alpha.toFixed(3)}`;
  const i = frameAlphas ? nearestIndex(frameAlphas, alpha) : -1;
  if (i < 0) return { alpha: text, shown: "" };
  const a = frameAlphas[i];
  // one count, one meaning: "point j of N" counts the points on the path (the status line's N),
  // not the subset of them whose maps were sent
  const all = pathAlphas && pathAlphas.length >= frameAlphas.length ? pathAlphas : frameAlphas;
  const which = `path point ${nearestIndex(all, a) + 1} of ${all.length}`;
  if (Math.abs(a - alpha) < 5e-4) return { alpha: text, shown: `images show ${which}` };
  return { alpha: text, shown: `images show the nearest point with maps, α = ${a.toFixed(3)} (${which})` };
}

/**
 * α after `dt` milliseconds of playing, sweeping 0 → 1 in `period` milliseconds and looping.
 */
export function advance(alpha, dt, period = 4000) {
  const next = alpha + dt / period;
  return next > 1 ? next - Math.floor(next) : next;
}

/**
 * A play/pause controller. `onAlpha(α)` is called on each frame; `getAlpha()` reads the current α
 * (so the slider can be moved while playing). `now`, `schedule` and `cancel` default to the
 * browser's clock and requestAnimationFrame and are injectable for tests.
 */
export function createPlayer({
  getAlpha,
  onAlpha,
  onChange = () => {},
  period = 4000,
  now = () => performance.now(),
  schedule = (fn) => requestAnimationFrame(fn),
  cancel = (id) => cancelAnimationFrame(id),
}) {
  let handle = null;
  let last = 0;
  const tick = () => {
    const t = now();
    const alpha = advance(getAlpha(), t - last, period);
    last = t;
    onAlpha(alpha);
    handle = schedule(tick);
  };
  const player = {
    get playing() {
      return handle !== null;
    },
    play() {
      if (handle !== null) return;
      if (getAlpha() >= 1) onAlpha(0);
      last = now();
      handle = schedule(tick);
      onChange(true);
    },
    pause() {
      if (handle === null) return;
      cancel(handle);
      handle = null;
      onChange(false);
    },
    toggle() {
      if (handle === null) player.play();
      else player.pause();
    },
  };
  return player;
}
