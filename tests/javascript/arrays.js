// Array methods, destructuring, spread, the ES2023 copying methods.
const xs = [5, 3, 8, 1, 9, 2];
console.log(xs.map((x) => x * 2), xs.filter((x) => x % 2), xs.reduce((a, b) => a + b, 0));
console.log(xs.toSorted((a, b) => a - b), xs, xs.toReversed(), xs.with(0, 50));
console.log(xs.findLast((x) => x > 4), xs.findLastIndex((x) => x > 4), xs.at(-2), xs.includes(8));
const [first, , third, ...rest] = xs;
console.log(first, third, rest, [...xs, ...rest].length);
console.log(Array.from({ length: 5 }, (_, i) => i * i), Array.of(7, 8), [[1, [2, [3, [4]]]]].flat(Infinity));
console.log([1, 2, 3].flatMap((x) => [x, x * 10]), [1, 2, 3, 4, 5].reduce((acc, x) => ((acc[x % 2 ? 'odd' : 'even'] ??= []).push(x), acc), {}));
console.log(Array.from({ length: 30 }, (_, i) => i * 3));
console.log(['apple', 'banana', 'cherry', 'date', 'elderberry', 'fig', 'grape', 'honeydew']);
console.log([1, , 3], new Array(3), [undefined, null], [[]], [{}], [[1, 2], [3, 4]]);
console.log(Array.from({ length: 120 }, (_, i) => i).length, [3, 1, 2].sort().join());
const words = ['delta', 'alpha', 'charlie', 'bravo'];
console.log(words.toSorted(), words.entries().next(), Object.entries({ a: 1, b: 2 }));
