// How values print: Node's `util.inspect` layout (depth 2, break length 80,
// `compact: 3`, arrays of more than six entries grouped in columns), so that
// `console.log` output and last-expression results read as they do in Node.
// Written from Node's documented behaviour; it covers the everyday types, not
// every corner (proxies, promise state and colours are not shown).

const BREAK_LENGTH = 80;
const DEPTH = 2;
const COMPACT = 3;
const MAX_ARRAY_LENGTH = 100;
const MAX_STRING_LENGTH = 10000;

const IDENTIFIER = /^[a-zA-Z_][a-zA-Z_0-9]*$/;
const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype);
const typedArrayTag = Object.getOwnPropertyDescriptor(typedArrayPrototype, Symbol.toStringTag).get;

// Characters one `inspect` may produce: the run's output cap. Anything past
// it would be cut by the host anyway, and building it costs the guest memory
// (a 200,000-key object once ran the engine out of memory while formatting).
let budget = 1 << 20;

/** Sets the most characters one `inspect` produces (the run's output cap). */
export function setBudget(characters) {
  budget = characters;
}

/** `value` as Node's `util.inspect(value)` shows it. */
export function inspect(value) {
  const ctx = { seen: [], circular: new Map(), indentationLvl: 0, currentDepth: 0, budget };
  return formatValue(ctx, value, 0, true);
}

/** Adds `entry` to `output`; false once the budget is spent. */
function spend(ctx, output, entry) {
  output.push(entry);
  ctx.budget -= entry.length + 2;
  return ctx.budget > 0;
}

function more(count, what) {
  return `... ${count} more ${what}${count > 1 ? 's' : ''}`;
}

/** Node's `util.format`: printf-style `%s %d %i %f %j %o %O %c %%` in a first
 * string argument, then the other arguments inspected, joined by spaces. */
export function format(...args) {
  const first = args[0];
  let out = '';
  let next = 0;
  if (typeof first === 'string' && args.length > 1 && first.includes('%')) {
    next = 1;
    let last = 0;
    for (let i = 0; i < first.length - 1; i++) {
      if (first[i] !== '%') continue;
      const spec = first[i + 1];
      let piece;
      if (spec === '%') {
        piece = '%';
      } else if (next >= args.length) {
        continue;
      } else {
        const arg = args[next];
        switch (spec) {
          case 's':
            piece = typeof arg === 'string' ? arg
              : typeof arg === 'bigint' ? `${arg}n`
              : typeof arg === 'object' && arg !== null ? inspect(arg)
              : typeof arg === 'symbol' ? arg.toString() : formatNumberish(arg);
            break;
          case 'd':
          case 'i': {
            if (typeof arg === 'bigint') piece = `${arg}n`;
            else if (typeof arg === 'symbol') piece = 'NaN';
            else piece = formatNumber(spec === 'd' ? Number(arg) : parseInt(arg));
            break;
          }
          case 'f':
            piece = typeof arg === 'symbol' ? 'NaN' : formatNumber(parseFloat(arg));
            break;
          case 'j':
            try { piece = JSON.stringify(arg); } catch { piece = '[Circular]'; }
            break;
          case 'o':
          case 'O':
            piece = inspect(arg);
            break;
          case 'c':
            piece = '';
            break;
          default:
            continue;
        }
        next++;
      }
      out += first.slice(last, i) + piece;
      last = i + 2;
      i++;
    }
    out += first.slice(last);
  }
  for (let i = next; i < args.length; i++) {
    const arg = args[i];
    if (i > 0) out += ' ';
    out += typeof arg === 'string' ? arg : inspect(arg);
  }
  return out;
}

function formatNumberish(value) {
  return typeof value === 'number' ? formatNumber(value) : String(value);
}

function formatNumber(n) {
  return Object.is(n, -0) ? '-0' : `${n}`;
}

const ESCAPES = { '\n': '\\n', '\t': '\\t', '\r': '\\r', '\b': '\\b', '\f': '\\f', '\v': '\\v', '\\': '\\\\' };
const NEEDS_ESCAPE = {
  "'": /[\x00-\x1f\x7f'\\]/g,
  '"': /[\x00-\x1f\x7f"\\]/g,
  '`': /[\x00-\x1f\x7f`\\]/g,
};

/** `s` quoted as Node quotes strings: single quotes unless the string has
 * some (then double, then backticks), control characters escaped. One regex
 * pass: a character-by-character loop in this engine's interpreter was slow
 * enough, on big objects, to run out of memory. */
function quote(s) {
  let q = "'";
  if (s.includes("'")) {
    if (!s.includes('"')) q = '"';
    else if (!s.includes('`') && !s.includes('${')) q = '`';
  }
  const escaped = s.replace(NEEDS_ESCAPE[q], (ch) =>
    ESCAPES[ch] ?? (ch === q ? '\\' + ch : '\\x' + ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')));
  return q + escaped + q;
}

function formatPrimitive(value) {
  switch (typeof value) {
    case 'string': {
      const cut = value.length > MAX_STRING_LENGTH;
      const shown = quote(cut ? value.slice(0, MAX_STRING_LENGTH) : value);
      return cut ? `${shown}... ${value.length - MAX_STRING_LENGTH} more characters` : shown;
    }
    case 'number': return formatNumber(value);
    case 'bigint': return `${value}n`;
    case 'boolean': return `${value}`;
    case 'undefined': return 'undefined';
    case 'symbol': return value.toString();
  }
  return String(value);
}

function formatKey(key) {
  if (typeof key === 'symbol') return `[${key.toString()}]`;
  return IDENTIFIER.test(key) ? key : quote(key);
}

function constructorName(obj) {
  let proto = obj;
  while (proto !== null) {
    const desc = Object.getOwnPropertyDescriptor(proto, 'constructor');
    if (desc !== undefined && typeof desc.value === 'function' && desc.value.name !== '') {
      return desc.value.name;
    }
    proto = Object.getPrototypeOf(proto);
  }
  return null;
}

function prefix(name, tag, fallback, size = '') {
  if (name === null) {
    return tag !== '' && fallback !== tag
      ? `[${fallback}${size}: null prototype] [${tag}] `
      : `[${fallback}${size}: null prototype] `;
  }
  return tag !== '' && name !== tag ? `${name}${size} [${tag}] ` : `${name}${size} `;
}

function functionBase(fn, name, tag) {
  const source = Function.prototype.toString.call(fn);
  if (source.startsWith('class') && /^class\b/.test(source)) {
    let base = `[class ${fn.name || '(anonymous)'}`;
    const superclass = Object.getPrototypeOf(fn);
    if (superclass && superclass.name) base += ` extends ${superclass.name}`;
    return base + ']';
  }
  let type = 'Function';
  if (tag === 'AsyncFunction') type = 'AsyncFunction';
  else if (tag === 'GeneratorFunction') type = 'GeneratorFunction';
  else if (tag === 'AsyncGeneratorFunction') type = 'AsyncGeneratorFunction';
  let base = `[${type}`;
  if (name === null) base += ' (null prototype)';
  base += fn.name === '' ? ' (anonymous)' : `: ${fn.name}`;
  return base + ']';
}

function formatValue(ctx, value, recurseTimes, topLevel = false) {
  if (typeof value !== 'object' && typeof value !== 'function') {
    return formatPrimitive(value);
  }
  if (value === null) return 'null';
  if (ctx.seen.includes(value)) {
    let index = ctx.circular.get(value);
    if (index === undefined) {
      index = ctx.circular.size + 1;
      ctx.circular.set(value, index);
    }
    return `[Circular *${index}]`;
  }
  return formatRaw(ctx, value, recurseTimes, topLevel);
}

function ownKeys(value, skipIndices) {
  const keys = Object.keys(value);
  const filtered = skipIndices ? keys.filter((k) => !/^(0|[1-9][0-9]*)$/.test(k) || Number(k) >= 2 ** 32 - 1) : keys;
  for (const sym of Object.getOwnPropertySymbols(value)) {
    if (Object.getOwnPropertyDescriptor(value, sym).enumerable) filtered.push(sym);
  }
  return filtered;
}

function formatRaw(ctx, value, recurseTimes) {
  const name = constructorName(value);
  let tag = value[Symbol.toStringTag];
  if (typeof tag !== 'string') tag = '';
  let base = '';
  let braces;
  let formatter = () => [];
  let extras = 'object';
  let keys;
  let noIterator = true;

  if (Array.isArray(value)) {
    noIterator = false;
    keys = ownKeys(value, true);
    const pre = name !== 'Array' || tag !== '' ? prefix(name, tag, 'Array', `(${value.length})`) : '';
    braces = [`${pre}[`, ']'];
    if (value.length === 0 && keys.length === 0) return `${braces[0]}]`;
    extras = 'array';
    formatter = formatArray;
  } else if (value instanceof Set) {
    noIterator = false;
    keys = ownKeys(value, false);
    const pre = prefix(name, tag, 'Set', `(${value.size})`);
    if (value.size === 0 && keys.length === 0) return `${pre}{}`;
    braces = [`${pre}{`, '}'];
    formatter = formatSet;
  } else if (value instanceof Map) {
    noIterator = false;
    keys = ownKeys(value, false);
    const pre = prefix(name, tag, 'Map', `(${value.size})`);
    if (value.size === 0 && keys.length === 0) return `${pre}{}`;
    braces = [`${pre}{`, '}'];
    formatter = formatMap;
  } else if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    noIterator = false;
    keys = ownKeys(value, true);
    const fallback = typedArrayTag.call(value);
    const pre = prefix(name, fallback === name ? '' : tag, fallback, `(${value.length})`);
    braces = [`${pre}[`, ']'];
    if (value.length === 0 && keys.length === 0) return `${braces[0]}]`;
    extras = 'array';
    formatter = formatTypedArray;
  }
  if (noIterator) {
    keys = ownKeys(value, false);
    braces = ['{', '}'];
    if (typeof value === 'function') {
      base = functionBase(value, name, tag);
      if (keys.length === 0) return base;
    } else if (value instanceof RegExp) {
      base = RegExp.prototype.toString.call(value);
      const pre = prefix(name, tag, 'RegExp');
      if (pre !== 'RegExp ') base = `${pre}${base}`;
      if (keys.length === 0) return base;
    } else if (value instanceof Date) {
      base = Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
      const pre = prefix(name, tag, 'Date');
      if (pre !== 'Date ') base = `${pre}${base}`;
      if (keys.length === 0) return base;
    } else if (value instanceof Error) {
      base = formatError(value);
      keys = keys.filter((k) => k !== 'stack' && k !== 'message' && k !== 'cause');
      if (keys.length === 0) return base;
    } else if (value instanceof WeakMap || value instanceof WeakSet || value instanceof WeakRef) {
      return `${prefix(name, tag, tag || 'Object')}{ <items unknown> }`;
    } else if (value instanceof Promise) {
      braces[0] = `${prefix(name, tag, 'Promise')}{`;
      formatter = () => ['<state unknown>'];
    } else if (value instanceof ArrayBuffer) {
      braces[0] = `${prefix(name, tag, 'ArrayBuffer')}{`;
      formatter = formatArrayBuffer;
    } else if (value instanceof Number || value instanceof String || value instanceof Boolean ||
      value instanceof BigInt || value instanceof Symbol) {
      const type = value instanceof Number ? 'Number' : value instanceof String ? 'String'
        : value instanceof Boolean ? 'Boolean' : value instanceof BigInt ? 'BigInt' : 'Symbol';
      base = `[${type}: ${formatPrimitive(value.valueOf())}]`;
      if (type === 'String') keys = keys.filter((k) => !/^\d+$/.test(k));
      if (keys.length === 0) return base;
    } else {
      if (name === 'Object') {
        if (tag !== '') braces[0] = `${prefix(name, tag, 'Object')}{`;
      } else {
        braces[0] = `${prefix(name, tag, 'Object')}{`;
      }
      if (keys.length === 0) return `${braces[0]}}`;
    }
  }

  if (recurseTimes > DEPTH) {
    return `[${name === null ? 'Object: null prototype' : (tag !== '' && tag !== name ? `${name} [${tag}]` : name)}]`;
  }
  recurseTimes += 1;
  ctx.seen.push(value);
  ctx.currentDepth = recurseTimes;
  let output = formatter(ctx, value, recurseTimes);
  for (let i = 0; i < keys.length; i++) {
    if (ctx.budget <= 0) {
      const left = keys.length - i;
      output.push(`... ${left} more propert${left > 1 ? 'ies' : 'y'}`);
      break;
    }
    spend(ctx, output, formatProperty(ctx, value, recurseTimes, keys[i], extras));
  }
  ctx.seen.pop();
  const index = ctx.circular.get(value);
  if (index !== undefined) {
    const reference = `<ref *${index}>`;
    base = base === '' ? reference : `${reference} ${base}`;
  }
  return reduceToSingleString(ctx, output, base, braces, extras, recurseTimes, value);
}

/** An error as Node shows it: its stack, which starts with `name: message`. */
export function formatError(err) {
  const name = err.name === undefined ? 'Error' : String(err.name);
  const message = err.message === undefined ? '' : String(err.message);
  const head = message === '' ? name : `${name}: ${message}`;
  const frames = stackFrames(err.stack);
  return frames.length === 0 ? `[${head}]` : `${head}\n${frames.join('\n')}`;
}

/** The frames of SpiderMonkey's `stack` text that belong to user code, in
 * Node's `    at fn (<code>:line:col)` form. The guest's own frames (the
 * evaluator, the bindings) are dropped. */
export function stackFrames(stack) {
  if (typeof stack !== 'string') return [];
  const frames = [];
  for (const line of stack.split('\n')) {
    const at = line.indexOf('@');
    if (at < 0) continue;
    const fn = line.slice(0, at);
    const where = line.slice(at + 1);
    const evalAt = where.lastIndexOf('> eval:');
    if (evalAt < 0) continue;
    const position = where.slice(evalAt + '> eval:'.length);
    frames.push(fn === '' ? `    at <code>:${position}` : `    at ${fn} (<code>:${position})`);
  }
  return frames;
}

function formatProperty(ctx, value, recurseTimes, key, extras) {
  const desc = Object.getOwnPropertyDescriptor(value, key) || { value: value[key], enumerable: true };
  let str;
  if (desc.value !== undefined || !('get' in desc || 'set' in desc)) {
    ctx.indentationLvl += 2;
    str = formatValue(ctx, desc.value, recurseTimes);
    ctx.indentationLvl -= 2;
  } else if (desc.get !== undefined) {
    str = desc.set !== undefined ? '[Getter/Setter]' : '[Getter]';
  } else {
    str = desc.set !== undefined ? '[Setter]' : 'undefined';
  }
  if (extras === 'array-entry') return str;
  return `${formatKey(key)}: ${str}`;
}

function formatArray(ctx, value, recurseTimes) {
  const output = [];
  const length = value.length;
  const limit = Math.min(MAX_ARRAY_LENGTH, length);
  let i = 0;
  for (; i < length && output.length < limit; i++) {
    if (!Object.prototype.hasOwnProperty.call(value, i)) {
      let holes = 1;
      while (i + holes < length && !Object.prototype.hasOwnProperty.call(value, i + holes)) holes++;
      output.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`);
      i += holes - 1;
      continue;
    }
    if (!spend(ctx, output, formatProperty(ctx, value, recurseTimes, i, 'array-entry'))) {
      i++;
      break;
    }
  }
  const remaining = length - i;
  if (remaining > 0) output.push(`... ${remaining} more item${remaining > 1 ? 's' : ''}`);
  return output;
}

function formatTypedArray(ctx, value) {
  const output = [];
  const limit = Math.min(MAX_ARRAY_LENGTH, value.length);
  for (let i = 0; i < limit; i++) output.push(formatPrimitive(value[i]));
  if (value.length > limit) {
    const remaining = value.length - limit;
    output.push(`... ${remaining} more item${remaining > 1 ? 's' : ''}`);
  }
  return output;
}

function formatArrayBuffer(ctx, value) {
  const bytes = new Uint8Array(value, 0, Math.min(50, value.byteLength));
  let hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
  if (value.byteLength > 50) hex += ` ... ${value.byteLength - 50} more byte${value.byteLength - 50 > 1 ? 's' : ''}`;
  return [`[Uint8Contents]: <${hex}>`, `byteLength: ${value.byteLength}`];
}

function formatSet(ctx, value, recurseTimes) {
  return formatEntries(ctx, value, (v) => formatValue(ctx, v, recurseTimes));
}

function formatMap(ctx, value, recurseTimes) {
  return formatEntries(ctx, value, ([k, v]) =>
    `${formatValue(ctx, k, recurseTimes)} => ${formatValue(ctx, v, recurseTimes)}`);
}

/** A Set's or Map's entries, each shown by `show`, within the budget. */
function formatEntries(ctx, collection, show) {
  const output = [];
  ctx.indentationLvl += 2;
  let shown = 0;
  for (const entry of collection) {
    shown++;
    if (!spend(ctx, output, show(entry))) break;
  }
  ctx.indentationLvl -= 2;
  if (shown < collection.size) output.push(more(collection.size - shown, 'item'));
  return output;
}

function groupArrayElements(ctx, output, value) {
  let totalLength = 0;
  let maxLength = 0;
  let outputLength = output.length;
  // The "... n more items" entry is not grouped (entries are never bare
  // text starting with "... ": strings are quoted).
  if (output[outputLength - 1].startsWith('... ')) {
    outputLength--;
  }
  const separatorSpace = 2;
  const dataLen = new Array(outputLength);
  for (let i = 0; i < outputLength; i++) {
    const len = output[i].length;
    dataLen[i] = len;
    totalLength += len + separatorSpace;
    if (maxLength < len) maxLength = len;
  }
  const actualMax = maxLength + separatorSpace;
  if (actualMax * 3 + ctx.indentationLvl < BREAK_LENGTH &&
    (totalLength / actualMax > 5 || maxLength <= 6)) {
    const averageBias = Math.sqrt(actualMax - totalLength / output.length);
    const biasedMax = Math.max(actualMax - 3 - averageBias, 1);
    const columns = Math.min(
      Math.round(Math.sqrt(2.5 * biasedMax * outputLength) / biasedMax),
      Math.floor((BREAK_LENGTH - ctx.indentationLvl) / actualMax),
      COMPACT * 4,
      15,
    );
    if (columns <= 1) return output;
    const tmp = [];
    const maxLineLength = [];
    for (let i = 0; i < columns; i++) {
      let lineLength = 0;
      for (let j = i; j < output.length; j += columns) {
        if (dataLen[j] > lineLength) lineLength = dataLen[j];
      }
      maxLineLength.push(lineLength + separatorSpace);
    }
    let padStart = true;
    if (value !== undefined) {
      for (let i = 0; i < output.length; i++) {
        if (typeof value[i] !== 'number' && typeof value[i] !== 'bigint') {
          padStart = false;
          break;
        }
      }
    }
    for (let i = 0; i < outputLength; i += columns) {
      const max = Math.min(i + columns, outputLength);
      let str = '';
      let j = i;
      for (; j < max - 1; j++) {
        const cell = `${output[j]}, `;
        str += padStart ? cell.padStart(maxLineLength[j - i], ' ') : cell.padEnd(maxLineLength[j - i], ' ');
      }
      str += padStart ? output[j].padStart(maxLineLength[j - i] - separatorSpace, ' ') : output[j];
      tmp.push(str);
    }
    if (outputLength < output.length) tmp.push(output[outputLength]);
    return tmp;
  }
  return output;
}

function isBelowBreakLength(output, start, base) {
  let totalLength = output.length + start;
  if (totalLength + output.length > BREAK_LENGTH) return false;
  for (const entry of output) {
    totalLength += entry.length;
    if (totalLength > BREAK_LENGTH) return false;
  }
  return base === '' || !base.includes('\n');
}

function reduceToSingleString(ctx, output, base, braces, extras, recurseTimes, value) {
  const entries = output.length;
  if (extras === 'array' && entries > 6) output = groupArrayElements(ctx, output, value);
  if (ctx.currentDepth - recurseTimes < COMPACT && entries === output.length) {
    const start = output.length + ctx.indentationLvl + braces[0].length + base.length + 10;
    if (isBelowBreakLength(output, start, base)) {
      const joined = output.join(', ');
      if (!joined.includes('\n')) {
        return `${base ? `${base} ` : ''}${braces[0]} ${joined} ${braces[1]}`;
      }
    }
  }
  const indentation = `\n${' '.repeat(ctx.indentationLvl)}`;
  return `${base ? `${base} ` : ''}${braces[0]}${indentation}  ${output.join(`,${indentation}  `)}${indentation}${braces[1]}`;
}
