// Map, Set, WeakMap, the ES2025 set methods, object utilities.
const m = new Map([['one', 1], ['two', 2]]);
m.set('three', 3).set({ key: 'object' }, [1, 2]);
console.log(m.size, m.get('two'), m.has('four'), [...m.keys()].slice(0, 3));
console.log(m);
const s = new Set([3, 1, 3, 2, 1]);
console.log(s, s.size, [...s].sort());
const a = new Set([1, 2, 3, 4]);
const b = new Set([3, 4, 5]);
console.log(new Set([...a, ...b]), new Set([...a].filter((x) => b.has(x))), [...a].filter((x) => !b.has(x)));
const counts = new Map();
for (const w of 'the cat and the hat and the bat'.split(' ')) counts.set(w, (counts.get(w) ?? 0) + 1);
console.log([...counts].sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0])));
console.log(Object.fromEntries(counts), new WeakMap(), new Map(), new Set());
console.log(Object.assign({}, { a: 1 }, { b: 2 }), structuredClone({ d: new Map([[1, { x: [1] }]]) }), Object.freeze([1]));
console.log({ 'key with space': 1, valid_id: 2, 3: 'three', [Symbol('s')]: 4 }, Object.create(null));
console.log({ a: { b: { c: { d: { e: 1 } } } } }, [[[[[1]]]]], { x: new Map([[1, new Set([new Map()])]]) });
