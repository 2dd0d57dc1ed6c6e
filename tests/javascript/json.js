// JSON round trip: nesting, replacers, revivers, indentation, edge values.
const data = { name: 'goru', tags: ['wasm', 'sandbox'], nested: { n: 1.5, ok: true, none: null }, date: new Date(Date.UTC(2024, 1, 29)) };
const text = JSON.stringify(data);
console.log(text);
console.log(JSON.stringify(data, null, 2));
const back = JSON.parse(text, (k, v) => (k === 'date' ? new Date(v) : v));
console.log(back, back.date.getUTCDate());
console.log(JSON.stringify({ a: undefined, b: () => 1, c: NaN, d: -0, e: [undefined] }));
console.log(JSON.stringify({ big: 2 ** 53, small: 1e-7, u: '\u2028é"\\' }), JSON.stringify('x'), JSON.stringify(null));
console.log(JSON.stringify({ a: 1, b: 2, c: 3 }, ['a', 'c']), JSON.stringify({ toJSON() { return 'custom'; } }));
try { JSON.parse('{bad'); } catch (e) { console.log(e.name); }
console.log(JSON.parse('[1,"2",{"3":[4]}]'));
