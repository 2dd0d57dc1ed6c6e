// Regular expressions: named groups, lookbehind, sticky, matchAll, unicode sets.
const date = /(?<year>\d{4})-(?<month>\d{2})-(?<day>\d{2})/u;
const m = '2024-02-29 was a leap day'.match(date);
console.log(m.groups.year, m.groups.month, m.index, m[0]);
console.log('a1b22c333'.replace(/\d+/g, (d) => `<${d.length}>`));
console.log([...'x=1, y=22, z=333'.matchAll(/(\w)=(\d+)/g)].map((m) => `${m[1]}:${m[2]}`));
console.log('price: $42, cost: $7'.match(/(?<=\$)\d+/g), /^[A-Z]/u.test('Émile'), /[\d--[0-4]]/v.test('7'));
console.log('2024-01-05'.replace(date, '$<day>/$<month>/$<year>'), /a.c/s.test('a\nc'));
const sticky = /foo/y;
sticky.lastIndex = 3;
console.log(sticky.test('barfoo'), sticky.lastIndex, 'CamelCaseString'.split(/(?=[A-Z])/));
console.log(/(\d+)\s(\w+)/.exec('10 apples'), /x/gi.flags, RegExp('a+b').source);
