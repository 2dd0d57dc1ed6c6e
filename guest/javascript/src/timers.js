// Timers as a run needs them. The engine runs its event loop (timers
// included) while `run`'s promise is pending, and traps if the loop runs dry
// first. Ours wrap the engine's to know what is pending, so that:
// - a promise that nothing can settle any more (no timer pending, every
//   microtask run) is an error the run reports, not a trap;
// - timers still pending when the code ends run before the run ends, as in
//   Node, and an exception in a timer callback is the run's error.
let engine;
// The real `then`, whatever user code does to Promise.prototype.
const then = Promise.prototype.then;
const pending = new Set();
let woken = null;
let uncaught = null;

function wake() {
  if (woken !== null) {
    const resolve = woken;
    woken = null;
    resolve();
  }
}

// The engine polls every pending timer at each turn of its loop: 1,000
// pending cost 0.16 s, 10,000 cost 12 s, and 100,000 aborted the instance
// (out of memory in the engine's own C++). Past this, setTimeout throws.
const MAX_PENDING = 10000;

function guard(callback, args) {
  if (pending.size >= MAX_PENDING) {
    throw new RangeError(`more than ${MAX_PENDING} timers pending at once: the sandbox's event loop allows no more`);
  }
  if (typeof callback !== 'function') throw new TypeError('The "callback" argument must be a function');
  return () => {
    try {
      callback(...args);
    } catch (e) {
      if (uncaught === null) uncaught = { error: e };
    }
  };
}

export function install(globals) {
  engine = {
    setTimeout: globals.setTimeout.bind(globals),
    clearTimeout: globals.clearTimeout.bind(globals),
    setInterval: globals.setInterval.bind(globals),
    clearInterval: globals.clearInterval.bind(globals),
  };
  const define = (name, value) =>
    Object.defineProperty(globals, name, { value, writable: true, configurable: true, enumerable: false });
  define('setTimeout', (callback, delay = 0, ...args) => {
    const run = guard(callback, args);
    const id = engine.setTimeout(() => {
      pending.delete(id);
      run();
      wake();
    }, delay);
    pending.add(id);
    return id;
  });
  define('setInterval', (callback, delay = 0, ...args) => {
    const run = guard(callback, args);
    const id = engine.setInterval(() => {
      run();
      wake();
    }, delay);
    pending.add(id);
    return id;
  });
  const clear = (engineClear) => (id) => {
    engineClear(id);
    if (pending.delete(id)) wake();
  };
  define('clearTimeout', clear(engine.clearTimeout));
  define('clearInterval', clear(engine.clearInterval));
}

/** Resolves once every microtask has run: a timer fires only then. */
function drained() {
  return new Promise((resolve) => engine.setTimeout(resolve, 0));
}

function throwUncaught() {
  if (uncaught !== null) {
    const { error } = uncaught;
    uncaught = null;
    throw error;
  }
}

/** The value `promise` settles to, or an error when nothing is left that
 * could settle it. */
export async function settle(promise) {
  let state = 'pending';
  let outcome;
  Reflect.apply(then, promise, [
    (value) => { state = 'fulfilled'; outcome = value; wake(); },
    (error) => { state = 'rejected'; outcome = error; wake(); },
  ]);
  for (;;) {
    // Wait for a timer, or for the promise itself (settled by a microtask).
    if (state === 'pending' && pending.size > 0) {
      await new Promise((resolve) => { woken = resolve; });
    }
    await drained();
    throwUncaught();
    if (state === 'fulfilled') return outcome;
    if (state === 'rejected') throw outcome;
    if (pending.size === 0) {
      throw new Error('the code awaits a promise that nothing can settle: no timer is pending and every callback has run');
    }
  }
}

/** Resolves when no timer is pending; an interval never cleared keeps the
 * run going until its timeout, as it keeps Node running. */
export async function idle() {
  while (pending.size > 0) {
    await new Promise((resolve) => { woken = resolve; });
  }
  await drained();
  throwUncaught();
}
