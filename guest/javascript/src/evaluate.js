// Runs submitted code as a script and yields the value of its last
// expression, as a notebook does.
//
// The common case is one indirect `eval`: no parse of ours, and the script's
// completion value is the last expression's value. Two cases need the code
// rewritten first, and only they pay for parsing it with acorn:
// - top-level `await`, which a script may not contain: the code runs in an
//   async function whose last expression statement becomes its return value;
// - session cells (`keepGlobals`): top-level `let`, `const` and `class`
//   bindings of an indirect eval vanish with it, so they become assignments
//   to globals declared with `var` first. A later cell may declare the name
//   again, as notebook kernels allow.
import { Parser } from '../node_modules/acorn/dist/acorn.mjs';

const globalEval = eval;
const ACORN = { ecmaVersion: 'latest', sourceType: 'script', allowHashBang: true };

/** Runs `code`; returns `{ value }` or `{ promise }` (an async wrapper's). */
export function evaluate(code, keepGlobals) {
  refuseDynamicImport(code);
  let program;
  if (!keepGlobals) {
    try {
      return { value: globalEval(code) };
    } catch (error) {
      // A SyntaxError thrown before any code ran, that only top-level await
      // explains (the code parses once await is allowed, awaits at top
      // level, and does not parse as a plain script, where `await(x)` is a
      // call): run it again rewritten. Anything else was raised by the code
      // itself and is its error.
      program = error instanceof SyntaxError ? parse(code) : null;
      if (program === null || !awaitsAtTopLevel(program) || parsesAsScript(code)) throw error;
    }
  } else {
    program = parse(code);
  }
  const rewritten = rewrite(code, keepGlobals, program);
  if (rewritten.declared.length > 0) globalEval(`var ${rewritten.declared.join(', ')};`);
  const value = globalEval(rewritten.code);
  return rewritten.async ? { promise: value } : { value };
}

/** `import()` would reach the engine's module loader, which has nothing to
 * load here and aborts the instance: refuse it with a clear error first.
 * Only code that mentions it pays for the parse. */
function refuseDynamicImport(code) {
  if (!/\bimport\s*\(/.test(code)) return;
  const program = parse(code);
  // A program that does not parse: eval reports the syntax error itself.
  if (program !== null && contains(program, (node) => node.type === 'ImportExpression')) {
    throw new SyntaxError('import() is not available: javascript runs are scripts, with no modules to load');
  }
}

function parsesAsScript(code) {
  try {
    Parser.parse(code, ACORN);
    return true;
  } catch {
    return false;
  }
}

/** The program, top-level await allowed, or null when it does not parse. */
function parse(code) {
  try {
    return Parser.parse(code, { ...ACORN, allowAwaitOutsideFunction: true });
  } catch {
    return null;
  }
}

/** `code` with its top-level bindings made global (for a session) and, when
 * it awaits at top level, wrapped in an async function. Parse errors are
 * left to `eval`, which reports them as the engine words them. */
function rewrite(code, keepGlobals, program) {
  if (program === null) return { code, async: false, declared: [] };
  const async = awaitsAtTopLevel(program);
  const edits = [];
  const declared = [];
  const hoisted = [];
  for (const statement of program.body) {
    if (statement.type === 'VariableDeclaration' && keepGlobals && (async || statement.kind !== 'var')) {
      const assignments = statement.declarations.map((d) => {
        collectNames(d.id, declared);
        const target = code.slice(d.id.start, d.id.end);
        const init = d.init ? code.slice(d.init.start, d.init.end) : 'undefined';
        return `(${target} = ${init})`;
      });
      // `void`: a declaration has no value, so it must not become the
      // cell's result.
      edits.push({ start: statement.start, end: statement.end, text: `void (${assignments.join(', ')});` });
    } else if (statement.type === 'ClassDeclaration' && keepGlobals) {
      declared.push(statement.id.name);
      edits.push({
        start: statement.start,
        end: statement.end,
        text: `void (${statement.id.name} = ${code.slice(statement.start, statement.end)});`,
      });
    } else if (statement.type === 'FunctionDeclaration' && keepGlobals && async) {
      // Hoisted as declarations are: callable from anywhere in the cell.
      declared.push(statement.id.name);
      hoisted.push(`${statement.id.name} = ${code.slice(statement.start, statement.end)};`);
      edits.push({ start: statement.start, end: statement.end, text: '' });
    }
  }
  const last = program.body[program.body.length - 1];
  if (async && last && last.type === 'ExpressionStatement') {
    edits.push({ start: last.start, end: last.end, text: `return (${code.slice(last.expression.start, last.expression.end)});` });
  }
  let out = code;
  for (const edit of edits.sort((a, b) => b.start - a.start)) {
    out = out.slice(0, edit.start) + edit.text + out.slice(edit.end);
  }
  if (async) {
    // On the first line, so that line numbers in errors stay the user's.
    out = `(async () => { ${hoisted.join(' ')}${out}\n})()`;
  }
  return { code: out, async, declared };
}

function collectNames(pattern, into) {
  switch (pattern.type) {
    case 'Identifier': into.push(pattern.name); break;
    case 'ObjectPattern':
      for (const p of pattern.properties) collectNames(p.type === 'RestElement' ? p.argument : p.value, into);
      break;
    case 'ArrayPattern':
      for (const e of pattern.elements) if (e) collectNames(e, into);
      break;
    case 'RestElement': collectNames(pattern.argument, into); break;
    case 'AssignmentPattern': collectNames(pattern.left, into); break;
  }
}

const FUNCTIONS = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression']);

/** Whether `await` (or `for await`) occurs outside every function. */
function awaitsAtTopLevel(program) {
  return contains(program, (node) => node.type === 'AwaitExpression' ||
    (node.type === 'ForOfStatement' && node.await), FUNCTIONS);
}

/** Whether a node under `root` satisfies `test`, not looking inside nodes
 * whose type is in `skip`. */
function contains(root, test, skip = new Set()) {
  let found = false;
  const visit = (node) => {
    if (found || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const n of node) visit(n);
      return;
    }
    if (typeof node.type !== 'string') return;
    if (test(node)) {
      found = true;
      return;
    }
    if (skip.has(node.type)) return;
    for (const key in node) {
      if (key !== 'type' && key !== 'start' && key !== 'end') visit(node[key]);
    }
  };
  visit(root.body);
  return found;
}
