// async/await, promise combinators, timers, ordering, top-level await.
const sleep = (ms, v) => new Promise((resolve) => setTimeout(() => resolve(v), ms));
console.log('start');
setTimeout(() => console.log('timeout 0'), 0);
Promise.resolve().then(() => console.log('microtask'));
queueMicrotask(() => console.log('queued microtask'));
async function work(n) {
  await sleep(5 * n);
  return n * n;
}
console.log(await Promise.all([work(3), work(1), work(2)]));
console.log(await Promise.race([sleep(30, 'slow'), sleep(5, 'fast')]));
console.log(await Promise.allSettled([Promise.reject(new Error('no')), Promise.resolve(1)]).then((r) => r.map((x) => x.status)));
console.log(await Promise.any([Promise.reject(1), sleep(1, 'any')]));
try {
  await (async () => { throw new RangeError('inner'); })();
} catch (e) {
  console.log('caught', e.name, e.message);
}
let resolve;
const promise = new Promise((r) => { resolve = r; });
setTimeout(() => resolve('resolved later'), 10);
console.log(await promise);
for await (const x of (async function* () { yield 1; await sleep(1); yield 2; })()) console.log('for await', x);
console.log('end');
