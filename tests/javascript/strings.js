// String methods, template literals, Unicode.
const s = 'The quick brown fox';
console.log(s.toUpperCase(), s.length, s.split(' ').reverse().join(' '));
console.log(s.padStart(24, '*'), s.padEnd(22, '.') + '|', s.at(-1), s.slice(4, 9));
console.log(s.replaceAll('o', '0'), s.includes('quick'), s.startsWith('The'), s.indexOf('fox'));
console.log(`${s.length * 2} chars`, 'abc'.repeat(3), '  trim  '.trim() + '|', 'a-b-c'.split('-'));
console.log([...'héllo wörld'].length, 'ß'.toUpperCase(), '😀'.length, [...'😀'].length);
console.log('%s is %d years and %i days; %j %o', 'Ada', 36.6, 12.9, { a: [1] }, 'x', 'extra');
console.log(String.raw`a\nb`, 'x'.codePointAt(0), String.fromCodePoint(128512), 'abc'.localeCompare('abd'));
console.log(['b', 'a', 'C'].sort(), encodeURIComponent('a b&c'), escape === undefined);
