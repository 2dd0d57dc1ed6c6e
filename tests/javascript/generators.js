// Generators and iterators: infinite sequences, delegation, return values.
function* naturals() {
  let n = 0;
  while (true) yield n++;
}
function* take(it, n) {
  for (const x of it) {
    if (n-- <= 0) return 'done';
    yield x;
  }
}
console.log([...take(naturals(), 5)]);
function* inner() { yield 'a'; yield 'b'; return 'inner result'; }
function* outer() { const r = yield* inner(); yield r; }
console.log(Array.from(outer()));
const it = take([10, 20], 5);
console.log(it.next(), it.next(), it.next(), it.next());
const fibs = { *[Symbol.iterator]() { let [a, b] = [0, 1]; for (;;) { yield a; [a, b] = [b, a + b]; } } };
const out = [];
for (const f of fibs) { if (f > 100) break; out.push(f); }
console.log(out);
function* echo() { let got = yield 'ready'; while (true) got = yield `got ${got}`; }
const e = echo();
console.log(e.next().value, e.next(1).value, e.next('two').value, e.return(3));
