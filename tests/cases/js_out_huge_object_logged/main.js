const o = {}; for (let i = 0; i < 200000; i++) o['k' + i] = 'v'.repeat(100);
console.log(o);
