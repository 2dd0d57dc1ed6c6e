// Closures, higher-order functions, currying, memoization.
function counter() {
  let n = 0;
  return { inc: () => ++n, get: () => n };
}
const c1 = counter();
const c2 = counter();
c1.inc(); c1.inc(); c2.inc();
console.log(c1.get(), c2.get());
const compose = (...fns) => (x) => fns.reduceRight((acc, f) => f(acc), x);
const add = (a) => (b) => a + b;
console.log(compose(add(1), (x) => x * 3)(4));
function memo(fn) {
  const cache = new Map();
  return (n) => (cache.has(n) ? cache.get(n) : (cache.set(n, fn(n)), cache.get(n)));
}
const fib = memo((n) => (n < 2 ? n : fib(n - 1) + fib(n - 2)));
console.log(fib(90), fib(30));
const fns = [];
for (let i = 0; i < 3; i++) fns.push(() => i);
console.log(fns.map((f) => f()));
console.log([function named() {}, () => {}, async () => {}, function* gen() {}, Math.max]);
