// `console`, writing through the engine's own stdout and stderr (WASI), so
// that output goes through the host's capped pipes like any runtime's: log,
// info and debug to stdout; warn, error and trace to stderr. Arguments are
// formatted as Node formats them (see inspect.js).
import { format, inspect, stackFrames } from './inspect.js';

const engineConsole = globalThis.console;
// The engine's console writes one string plus a newline; formatting is ours.
const stdout = engineConsole.log.bind(engineConsole);
const stderr = engineConsole.error.bind(engineConsole);

/** Writes `text` and a newline to stderr, as it is. */
export const writeStderr = (text) => stderr(text);

export function install(globals) {
  let indent = '';
  const counts = new Map();
  const timers = new Map();
  const write = (sink) => (...args) => {
    const text = format(...args);
    sink(indent === '' ? text : text.split('\n').map((line) => indent + line).join('\n'));
  };
  const out = write(stdout);
  const err = write(stderr);
  const console = {
    log: out,
    info: out,
    debug: out,
    warn: err,
    error: err,
    dir: (value) => out(inspect(value)),
    trace: (...args) => {
      const frames = stackFrames(new Error().stack);
      err(['Trace' + (args.length > 0 ? ': ' + format(...args) : ''), ...frames].join('\n'));
    },
    assert: (condition, ...args) => {
      if (!condition) err(args.length > 0 ? `Assertion failed: ${format(...args)}` : 'Assertion failed');
    },
    count: (label = 'default') => {
      const n = (counts.get(`${label}`) ?? 0) + 1;
      counts.set(`${label}`, n);
      out(`${label}: ${n}`);
    },
    countReset: (label = 'default') => counts.delete(`${label}`),
    group: (...args) => {
      if (args.length > 0) out(...args);
      indent += '  ';
    },
    groupEnd: () => {
      indent = indent.slice(2);
    },
    time: (label = 'default') => timers.set(`${label}`, performance.now()),
    timeLog: (label = 'default', ...args) => elapsed(label, false, args),
    timeEnd: (label = 'default') => elapsed(label, true, []),
    table: (data) => out(inspect(data)),
  };
  console.groupCollapsed = console.group;
  const elapsed = (label, end, args) => {
    const started = timers.get(`${label}`);
    if (started === undefined) {
      err(`Warning: No such label '${label}' for console.time${end ? 'End' : 'Log'}()`);
      return;
    }
    if (end) timers.delete(`${label}`);
    const ms = performance.now() - started;
    out(`${label}: ${ms < 1000 ? `${ms.toFixed(3)}ms` : `${(ms / 1000).toFixed(3)}s`}`, ...args);
  };
  Object.defineProperty(globals, 'console', { value: console, writable: true, configurable: true, enumerable: false });
}
