console.log(typeof leaked, typeof leakedVar, ({}).polluted, [1].map((x) => x + 1), JSON.stringify({ a: 1 }));
