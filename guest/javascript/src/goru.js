// The javascript guest. componentize-js runs this module once at build time
// (pre-initialization): the console, the host functions and the timers are
// installed into the snapshot, and each run only calls `run`.
//
// Nothing here may draw random numbers or read the clock at build time: the
// engine seeds `Math.random` on first use, so every run gets its own seed.
import { outcome } from 'goru:sandbox/report@0.1.0';
import { install as installConsole, writeStderr } from './console.js';
import { evaluate } from './evaluate.js';
import { functions } from './functions.js';
import { formatError, inspect, setBudget } from './inspect.js';
import * as timers from './timers.js';

installConsole(globalThis);
timers.install(globalThis);
for (const [name, value] of Object.entries(functions)) {
  Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
}
// No network except through `http_request`, which the policy checks.
delete globalThis.fetch;

// What the engine's own export glue relies on once `run` returns its
// promise. User code may replace them (it owns the global object); a broken
// `then` there would abort the instance, so they are put back first.
const INTRINSICS = [
  [Promise.prototype, 'then'],
  [Promise, 'resolve'],
  [globalThis, 'Promise'],
].map(([owner, key]) => [owner, key, Object.getOwnPropertyDescriptor(owner, key)]);

function restoreIntrinsics() {
  for (const [owner, key, descriptor] of INTRINSICS) {
    try {
      Object.defineProperty(owner, key, descriptor);
    } catch {
      // Frozen by user code with another value: nothing more can be done.
    }
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** At most `max` UTF-8 bytes of `text`, and whether it was cut. */
function cut(text, max) {
  if (text.length * 3 <= max) return [text, false];
  // Every UTF-16 unit takes at least one byte: the first `max` units hold
  // at least `max` bytes, so nothing longer is ever encoded.
  const bytes = encoder.encode(text.length > max ? text.slice(0, max) : text);
  if (bytes.length <= max && text.length <= max) return [text, false];
  let end = max;
  // Back off to a character boundary (never inside a multi-byte sequence).
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return [decoder.decode(bytes.subarray(0, end)), true];
}

/** `{ typeName, message, traceback }` of whatever was thrown; never throws. */
function describe(thrown, max) {
  let typeName = 'Uncaught';
  let message;
  let traceback;
  try {
    if (thrown instanceof Error || (thrown !== null && typeof thrown === 'object' && 'message' in thrown && 'stack' in thrown)) {
      typeName = String(thrown.name ?? 'Error');
      message = String(thrown.message ?? '');
      traceback = formatError(thrown);
    } else if (thrown === 'out of memory') {
      // The engine's own exception when an allocation fails; the host tells
      // the memory limit from a user's `throw` by whether the limit was hit.
      typeName = 'MemoryError';
      message = thrown;
      traceback = '';
    } else {
      message = inspect(thrown);
      traceback = `Uncaught ${message}`;
    }
  } catch (e) {
    typeName = 'Uncaught';
    message = '<the thrown value could not be shown>';
    traceback = '';
  }
  const [name, cutName] = cut(typeName, 200);
  const [text, cutText] = cut(message, max);
  const [trace, cutTrace] = cut(traceback, max);
  return { typeName: name, message: text, traceback: trace, truncated: cutName || cutText || cutTrace };
}

/** The last expression's value as the result shows it; a value that cannot
 * be shown (a throwing getter, a hostile proxy) says so instead. */
function show(value, max) {
  let text;
  try {
    text = inspect(value);
  } catch (e) {
    text = `<the value could not be shown: ${describe(e, 1000).message}>`;
  }
  const [plain, truncated] = cut(text, max);
  return { plain, html: undefined, truncated };
}

/** Whether `value` is a promise-like to await. A value whose `then` cannot
 * even be read (a hostile proxy) is shown, not awaited. */
function isThenable(value) {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  try {
    return typeof value.then === 'function';
  } catch {
    return false;
  }
}

/** Runs `code` and reports how it ended. `workdir` and `tmpdir` are unused:
 * javascript runs have no file API. */
export async function run(code, options) {
  const max = options.maxTextBytes;
  setBudget(max);
  let exitCode = 0;
  let error;
  let display;
  try {
    const evaluated = evaluate(code, options.keepGlobals);
    // Before the first await: that is when `run` returns to the glue.
    restoreIntrinsics();
    let value = evaluated.promise !== undefined ? await timers.settle(evaluated.promise) : evaluated.value;
    // A promise as the last value is awaited, as top-level await would.
    if (isThenable(value)) value = await timers.settle(Promise.resolve(value));
    // Timers still pending run before the run ends, as in Node.
    await timers.idle();
    if (value !== undefined) display = show(value, max);
  } catch (thrown) {
    exitCode = 1;
    error = describe(thrown, max);
    // As Node does with an uncaught exception (and CPython with its traceback).
    if (error.traceback !== '') writeStderr(error.traceback);
  }
  restoreIntrinsics();
  outcome(exitCode, error, display);
}
